"""The plugin's OpenMMLab configs as a package, like ``mmpretrain::``: a user config can say
``_base_ = ['lwdna_plugin::lwdna/demo_digits.py']``, and our commands take that name too.

The configs and basicsr option files live in ``lwdna_plugin/.mim/configs`` (a link to the
clone's ``configs/``; files in a wheel). mmengine resolves ``PACKAGE::`` only for packages in
its ``MODULE2PACKAGE`` table, which :func:`register_config_package` extends when the
mmpretrain adapter is imported. The name it maps to is this module, which mmengine locates
through its import spec (the folder holding it): right for a wheel, an editable install and a
clone on ``sys.path`` alike, where the distribution's recorded location is not (an editable
install). Imports no zoo."""
from __future__ import annotations

import os
from pathlib import Path

SCOPE = 'lwdna_plugin'
PREFIX = f'{SCOPE}::'
CONFIG_ROOT = Path(__file__).parent / '.mim' / 'configs'
MODULE = __name__   # 'lwdna_plugin.configs'


def register_config_package() -> None:
    """Let mmengine resolve ``lwdna_plugin::PATH`` in ``_base_`` (idempotent)."""
    from mmengine.config.utils import MODULE2PACKAGE

    MODULE2PACKAGE.setdefault(SCOPE, MODULE)


def resolve_config(name: str | os.PathLike) -> str:
    """``lwdna_plugin::lwdna/demo_digits.py`` → the installed file; any other name unchanged."""
    name = os.fspath(name)
    if not name.startswith(PREFIX):
        return name
    return str(CONFIG_ROOT / name[len(PREFIX):])

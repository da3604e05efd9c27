"""lwdna_plugin: LW-DNA (the Heterogeneity Hypothesis, CVPR 2021) for existing model zoos.

The public API (``shrink``, ``LWDNAConfig``, ``apply_channel_config``, the errors, ...) comes
from :mod:`lwdna_plugin.core`, imported on first use, so that ``import lwdna_plugin`` and a
command's ``--help`` do not wait for torch. Zoo adapters are imported on demand too
(``lwdna_plugin.mmpretrain``, ``.basicsr``, ``.timm``): a timm user never imports mmcv."""
import sys
from typing import Any

from .version import __version__

__all__ = ['LWDNAConfig', 'shrink', 'widen', 'ShrinkResult', 'apply_channel_config', 'count_flops_params',
           'LWDNAError', 'ConfigError', 'UnsupportedModelError', 'InfeasibleTargetError',
           'ChannelConfigMismatchError', 'CheckpointError', 'OutputError', '__version__']


SUBMODULES = ('core', 'data', 'configs', 'compat', 'cli', 'timm', 'mmpretrain', 'basicsr', 'tracking')


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import core
        return getattr(core, name)
    if name in SUBMODULES:   # ``lwdna_plugin.timm.create_lwdna_model(...)`` after ``import lwdna_plugin``
        import importlib
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(__all__) | set(SUBMODULES))


def _in_an_openmmlab_process() -> bool:
    """True where mmpretrain is imported, or mmengine is and mmpretrain is installed: an
    OpenMMLab config being loaded (``custom_imports = dict(imports=['lwdna_plugin'])``, as the
    0.2.0 README said, runs before mmpretrain's stock ``tools/train.py`` imports mmpretrain)."""
    if 'mmpretrain' in sys.modules:
        return True
    if 'mmengine' not in sys.modules:
        return False
    import importlib.util
    return importlib.util.find_spec('mmpretrain') is not None


if _in_an_openmmlab_process():
    # register the adapter (LWDNARunner, LWDNAClassifier, ...) as configs written for 0.2.0 expect
    from . import mmpretrain  # noqa: F401

"""``LWDNANet`` (in basicsr's ``ARCH_REGISTRY``): a basicsr arch rebuilt with the widths of a
saved LW-DNA channel config. basicsr builds ``network_g`` for training, for the EMA copy, for
resumed runs and for ``test.py``-style inference; all of them get the same architecture:

.. code-block:: yaml

    network_g:
      type: LWDNANet
      channel_config: experiments/NAME/lwdna_channels.json
      # base: {type: EDSR, ...}   # optional: the config records the baseline's network_g
"""
from __future__ import annotations

import copy
import inspect
import os
import re
from typing import Any, Dict, Optional, Union

import torch.nn as nn
from basicsr.utils.registry import ARCH_REGISTRY

from ..core import apply_channel_config, validate_channel_config
from ..core.channel_config import recorded_builder
from ..core.errors import ChannelConfigMismatchError, ConfigError
from ..core.safe_load import check_builder_kwargs, is_plain

# Constructor arguments a channel config may never set: they name files or code.
NAMES_FILE_OR_CODE = re.compile(r'path|file|pretrain|checkpoint|ckpt|url|load|weight|_layer$|_fn$|_cls$', re.I)


@ARCH_REGISTRY.register()
def LWDNANet(channel_config: Union[str, os.PathLike, Dict[str, Any]],
             base: Optional[Dict[str, Any]] = None) -> nn.Module:
    """The ``base`` arch (basicsr ``network_g`` options; default: the one recorded in the
    channel config) with the LW-DNA widths of ``channel_config`` (a dict or a JSON path),
    freshly initialised the way the arch initialises itself. Raises
    :class:`ChannelConfigMismatchError` when the config was made for another network."""
    if isinstance(channel_config, (str, os.PathLike)) and not os.path.isfile(channel_config):
        raise ChannelConfigMismatchError(f'channel config {str(channel_config)!r} does not exist')
    config = validate_channel_config(channel_config)
    if base is None:
        builder = recorded_builder(config)
        if builder.get('zoo') != 'basicsr':
            raise ChannelConfigMismatchError(
                'this channel config was not made from a basicsr network (builder: '
                f'{builder or "none"!r:.80}); give the baseline network_g as LWDNANet\'s base')
        base = check_network_g(builder.get('network_g'), 'channel config builder')
    base = copy.deepcopy(dict(base))
    arch = base.pop('type', None)
    baseline = arch_constructor(arch)(**base)
    model = apply_channel_config(baseline, config)
    initialise(model)
    return model


def arch_constructor(arch: Any):
    """The basicsr arch registered as ``arch`` (never ``LWDNANet`` itself)."""
    if not isinstance(arch, str) or arch == 'LWDNANet':
        raise ConfigError(f'LWDNANet needs the baseline arch options as base (with a type), got {arch!r:.80}')
    try:
        return ARCH_REGISTRY.get(arch)
    except KeyError:
        raise ConfigError(f'{arch!r:.80} is not an arch in basicsr\'s ARCH_REGISTRY') from None


def check_network_g(network_g: Any, where: str) -> Dict[str, Any]:
    """A baseline ``network_g`` read from a channel config, allowed only with a registered arch
    and that arch's own constructor arguments, each a plain value and none that names a file or
    code (``pretrained``, ``load_path``, ...)."""
    if not isinstance(network_g, dict):
        raise ConfigError(f'{where}: network_g must be a JSON object, got {type(network_g).__name__}')
    arch = network_g.get('type')
    parameters = inspect.signature(arch_constructor(arch)).parameters.values()
    allowed = {p.name: is_plain for p in parameters
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not NAMES_FILE_OR_CODE.search(p.name)}
    kwargs = check_builder_kwargs({k: v for k, v in network_g.items() if k != 'type'}, allowed, where)
    return {'type': arch, **kwargs}


def initialise(model: nn.Module) -> None:
    """Archs with an ``init_weights()`` method (the plugin's DnCNN, U-Net) re-run it; the
    others initialise in their constructors, and the resized layers already got the baseline
    layers' distributions (``apply_channel_config``)."""
    if hasattr(model, 'init_weights'):
        model.init_weights()

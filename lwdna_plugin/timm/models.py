"""Build timm models with LW-DNA widths.

A channel config records how to rebuild its baseline (``builder``: the timm model name and
``create_model`` keyword arguments). Channel configs are shared files, so those arguments go
through an allow-list of architecture keys with plain values: nothing that loads a file,
fetches weights or names a callable (``pretrained``, ``checkpoint_path``, ``pretrained_cfg*``,
a layer class) can reach ``timm.create_model`` from a JSON file.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable

import timm
import torch.nn as nn
import torch.nn.functional as F
from timm.layers.create_act import _ACT_LAYER_DEFAULT

from ..core import LWDNAConfig, ShrinkResult, apply_channel_config, shrink, validate_channel_config
from ..core.channel_config import recorded_builder
from ..core.errors import ChannelConfigMismatchError, ConfigError
from ..core.safe_load import check_builder_kwargs, is_int, is_one_of, is_rate

BUILDER_KWARGS = {
    'num_classes': is_int(1, 10 ** 6),
    'in_chans': is_int(1, 4096),
    'drop_rate': is_rate,
    'drop_path_rate': is_rate,
    'drop_block_rate': is_rate,
    'global_pool': is_one_of('avg', 'max', 'avgmax', 'catavgmax', 'token', 'map', ''),
    'output_stride': is_one_of(8, 16, 32),
    'act_layer': lambda v: isinstance(v, str) and v.lower() in _ACT_LAYER_DEFAULT,   # timm's own table
    'img_size': is_int(1, 8192),
    'pretrained': is_one_of(False),   # LW-DNA trains from scratch; weights never come from a config
}


def check_timm_builder(name: Any, kwargs: Any, where: str) -> Dict[str, Any]:
    """Refuse (:class:`ConfigError`) a timm model name that is not in timm's registry (hub or
    local-directory names load files) and ``create_model`` arguments off the allow-list."""
    if not isinstance(name, str) or ':' in name or '/' in name or not timm.is_model(name):
        raise ConfigError(f'{where}: {name!r:.80} is not the name of a model in timm\'s registry')
    return check_builder_kwargs(kwargs, BUILDER_KWARGS, where)


def shrink_timm_model(name: str, batches: Iterable, cfg: LWDNAConfig, **kwargs: Any) -> ShrinkResult:
    """Shrink ``timm.create_model(name, **kwargs)`` with cross-entropy on ``batches``. ``kwargs``
    are recorded in the channel config, so they must be on :data:`BUILDER_KWARGS`."""
    kwargs = check_timm_builder(name, kwargs, 'shrink_timm_model')
    model = timm.create_model(name, **kwargs)
    return shrink(model, batches, F.cross_entropy, cfg, model_name=name,
                  builder={'zoo': 'timm', 'name': name, 'kwargs': kwargs})


def create_lwdna_model(channel_config: Dict[str, Any] | str | os.PathLike, **overrides: Any) -> nn.Module:
    """The LW-DNA timm model described by a channel config (freshly initialised). ``overrides``
    come from the caller's code and are passed to ``timm.create_model`` as given."""
    config = validate_channel_config(channel_config)
    builder = recorded_builder(config)
    if builder.get('zoo') != 'timm':
        raise ChannelConfigMismatchError('this channel config was not made from a timm model '
                                         f'(builder: {builder or "none"!r:.80})')
    kwargs = check_timm_builder(builder.get('name'), builder.get('kwargs', {}), 'channel config builder')
    model = timm.create_model(builder['name'], **{**kwargs, **overrides})
    return apply_channel_config(model, config)

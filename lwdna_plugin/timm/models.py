"""Build timm models with LW-DNA widths."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable

import timm
import torch.nn as nn
import torch.nn.functional as F

from ..core import LWDNAConfig, ShrinkResult, apply_channel_config, load_channel_config, shrink
from ..core.errors import ChannelConfigMismatchError


def shrink_timm_model(name: str, batches: Iterable, cfg: LWDNAConfig, **kwargs: Any) -> ShrinkResult:
    """Shrink ``timm.create_model(name, **kwargs)`` with cross-entropy on ``batches``."""
    model = timm.create_model(name, **kwargs)
    result = shrink(model, batches, F.cross_entropy, cfg, model_name=name,
                    builder={'zoo': 'timm', 'name': name, 'kwargs': kwargs})
    return result


def create_lwdna_model(channel_config: Dict[str, Any] | str | os.PathLike, **overrides: Any) -> nn.Module:
    """The LW-DNA timm model described by a channel config (freshly initialised)."""
    config = load_channel_config(channel_config) if not isinstance(channel_config, dict) else channel_config
    builder = (config.get('model') or {}).get('builder') or {}
    if builder.get('zoo') != 'timm':
        raise ChannelConfigMismatchError('this channel config was not made from a timm model '
                                         f'(builder: {builder or "none"})')
    model = timm.create_model(builder['name'], **{**builder.get('kwargs', {}), **overrides})
    return apply_channel_config(model, config)


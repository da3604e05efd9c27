"""Keyword arguments for pytracking's ``dimpnet50`` with an LW-DNA backbone (see docs/tracking.md
for the lines of ``dimpnet50`` and ``dimp50.py`` that take them)."""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Union

from ..core.errors import ConfigError
from .widths import out_feature_channels, validate_widths

# DiMPnet's fixed choice: the IoU-Net reads layer2 and layer3
BB_REGRESSOR_LAYERS = ('layer2', 'layer3')


def dimpnet50_kwargs(channel_config: Union[Mapping[str, Any], str, os.PathLike],
                     backbone_weights: Union[str, os.PathLike, None] = None,
                     classification_layer: str = 'layer3', clf_feat_blocks: int = 0) -> Dict[str, Any]:
    """The extra ``dimpnet50`` keyword arguments for the backbone of ``channel_config``:

    - ``backbone_channels``: the widths dict itself (plain JSON). It is stored in the network's
      ``constructor`` kwargs, so ``ltr.admin.loading.load_network`` rebuilds the same
      architecture (pytracking then passes ``backbone_pretrained=False``; no weights file is needed);
    - ``bb_regressor_input_dim``: the IoU-Net's backbone input channels (layer2, layer3),
      pytracking's ``(4*128, 4*256)`` for the standard ResNet50;
    - ``clf_input_dim``: the channels of the classification layer (1024 for layer3);
    - ``backbone_pretrained``: the exported weights, if ``backbone_weights`` is given.

    pytracking's ``residual_bottleneck`` takes ``feature_dim = clf_input_dim / 4``: with
    ``clf_feat_blocks > 0`` the width must be a multiple of 4 (shrink with ``channel_divisor=4``).
    """
    widths = validate_widths(channel_config)
    channels = out_feature_channels(widths)
    if classification_layer not in ('layer3', 'layer4'):
        raise ConfigError(f"dimpnet50 classifies on 'layer3' or 'layer4', got {classification_layer!r}")
    clf_input_dim = channels[classification_layer]
    if clf_feat_blocks and clf_input_dim % 4:
        raise ConfigError(f'{classification_layer} has {clf_input_dim} channels, not a multiple of 4: pytracking\'s '
                          f'residual_bottleneck cannot build {clf_feat_blocks} classifier block(s) on it; use '
                          'clf_feat_blocks=0 (DiMP50) or shrink the backbone with channel_divisor=4')
    kwargs: Dict[str, Any] = {
        'backbone_channels': widths,
        'bb_regressor_input_dim': tuple(channels[name] for name in BB_REGRESSOR_LAYERS),
        'clf_input_dim': clf_input_dim,
    }
    if backbone_weights is not None:
        if not os.path.isfile(backbone_weights):
            raise ConfigError(f'backbone weights {os.fspath(backbone_weights)!r} do not exist')
        kwargs['backbone_pretrained'] = os.fspath(backbone_weights)
    return kwargs

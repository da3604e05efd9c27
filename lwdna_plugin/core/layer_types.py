"""The layer types the grouping and resizing know, and the registry of channel gates."""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn as nn

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# modules computing ``x * gate(x)`` whose parameters do not depend on the channel count (ECA's
# 1-D conv over the channel axis): one channel-preserving op to the grouping, left as they are by
# resizing; they mix neighbouring channels, so the probe's reference runs them on the kept channels
CHANNEL_GATES: List[type] = []
SEPARABLE_GATES: List[type] = []


def register_channel_gate(module_type: type, separable: bool = False) -> None:
    """Treat ``module_type`` as a channel gate: a module whose output channel j belongs to its
    input channel j and whose only parameters are per-channel vectors (resized with the
    channels) or independent of the channel count (ECA's conv over the channel axis). The
    probe's reference runs the pruned network's gate on the kept channels; a ``separable`` gate
    (channel j of its output depends on channel j of its input alone, InstanceNorm) makes the
    model exact. The timm and mmpretrain adapters register their zoo's gates."""
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f'a channel gate must be an nn.Module subclass, got {module_type!r}')
    if module_type not in CHANNEL_GATES:
        CHANNEL_GATES.append(module_type)
    if separable and module_type not in SEPARABLE_GATES:
        SEPARABLE_GATES.append(module_type)


# InstanceNorm: per-sample, per-channel statistics (a batch norm over a reshaped input inside)
register_channel_gate(nn.modules.instancenorm._InstanceNorm, separable=True)

# norms whose statistics run over the channels: resizable, but pruning changes what they compute
CHANNEL_NORM_TYPES = (nn.LayerNorm, nn.GroupNorm)
RESIZABLE_TYPES = CONV_TYPES + (nn.Linear, nn.modules.batchnorm._BatchNorm, nn.PReLU) + CHANNEL_NORM_TYPES


def channel_axis(param: torch.Tensor) -> Optional[int]:
    """The one axis of a per-channel parameter (shape (C,), (C, 1, 1), (1, C, 1, 1)); None if it
    has more than one non-unit axis."""
    axes = [i for i, n in enumerate(param.shape) if n != 1]
    return axes[0] if len(axes) == 1 else None


def norm_channels(module: nn.Module) -> Optional[int]:
    """Channels a LayerNorm over one (channel) dimension or a GroupNorm normalises; None for a
    LayerNorm over several dimensions."""
    if isinstance(module, nn.GroupNorm):
        return module.num_channels
    if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
        return module.normalized_shape[0]
    return None

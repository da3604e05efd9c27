"""The reference an LW-DNA network must equal: the widened network with removed channels zeroed."""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from .groups import CONV_TYPES, ChannelGraph


@torch.no_grad()
def zero_removed_channels(graph: ChannelGraph, keep_unit: np.ndarray) -> nn.Module:
    """A copy of ``graph.model`` in which no layer reads a removed channel.

    Every conv / linear input slice of a removed unit is zeroed (group convs lose whole
    groups, so their removed inputs only feed removed outputs). Its output must equal the
    pruned network's output exactly.
    """
    model = copy.deepcopy(graph.model)
    for name, module in model.named_modules():
        if not isinstance(module, CONV_TYPES + (nn.Linear,)) or getattr(module, 'groups', 1) > 1:
            continue
        in_dim = graph.dims.get((name, 'in'))
        if in_dim is None:
            continue
        removed = ~keep_unit[graph.slot_unit[in_dim.offset:in_dim.offset + in_dim.size]]
        if removed.any():
            module.weight[:, torch.as_tensor(np.nonzero(removed)[0])] = 0
    return model


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))

"""timm layers that mix channels by design, registered as channel gates (see
:func:`lwdna_plugin.core.register_channel_gate`): the grouping treats each as one
channel-preserving op and the probe compares the rest of the network exactly."""
from __future__ import annotations

import torch
import torch.nn as nn
from timm.layers import CecaModule, EcaModule
from timm.layers.grn import GlobalResponseNorm

from ..core import register_channel_gate


class GrnWithoutStatistics(nn.Module):
    """GRN with its response normalisation left out (x_n = 1): ``x + bias + weight · x``."""

    def __init__(self, grn: GlobalResponseNorm):
        super().__init__()
        self.grn = grn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = self.grn.wb_shape
        return x + self.grn.bias.view(shape) + self.grn.weight.view(shape) * x


def register_timm_gates() -> None:
    """ECA / CECA (x · sigmoid(conv1d over the channel axis), no width inside) and ConvNeXt-V2's
    GlobalResponseNorm (per-channel weight and bias, statistics over the channels)."""
    for gate in (EcaModule, CecaModule):
        register_channel_gate(gate)
    register_channel_gate(GlobalResponseNorm, GrnWithoutStatistics)

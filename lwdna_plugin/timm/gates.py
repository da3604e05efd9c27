"""timm layers that mix channels by design, registered as channel gates (see
:func:`lwdna_plugin.core.register_channel_gate`): the grouping treats each as one
channel-preserving op and the probe compares the rest of the network exactly."""
from __future__ import annotations

from timm.layers import CecaModule, EcaModule
from timm.layers.grn import GlobalResponseNorm

from ..core import register_channel_gate
from ..core.masking import ChannelAffine


def register_timm_gates() -> None:
    """ECA / CECA (x · sigmoid(conv1d over the channel axis), no width inside) and ConvNeXt-V2's
    GlobalResponseNorm (per-channel weight and bias, statistics over the channels)."""
    for gate in (EcaModule, CecaModule):
        register_channel_gate(gate)
    register_channel_gate(GlobalResponseNorm, lambda grn: ChannelAffine(grn.weight, grn.bias, grn.wb_shape[-1] == -1,
                                                                     residual=True))

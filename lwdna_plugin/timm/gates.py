"""timm layers that mix channels by design, registered as channel gates (see
:func:`lwdna_plugin.core.register_channel_gate`): the grouping treats each as one
channel-preserving op and the probe's reference runs it on the kept channels."""
from __future__ import annotations

from timm.layers import CecaModule, EcaModule
from timm.layers.grn import GlobalResponseNorm

from ..core import register_channel_gate


def register_timm_gates() -> None:
    """ECA / CECA (x · sigmoid(conv1d over the channel axis), no width inside) and ConvNeXt-V2's
    GlobalResponseNorm (per-channel weight and bias, statistics over the channels)."""
    for gate in (EcaModule, CecaModule, GlobalResponseNorm):
        register_channel_gate(gate)

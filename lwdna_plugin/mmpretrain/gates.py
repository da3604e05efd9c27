"""mmpretrain layers that mix channels by design, registered as channel gates (see
:func:`lwdna_plugin.core.register_channel_gate`): the grouping treats each as one
channel-preserving op and the probe's reference runs it on the kept channels."""
from __future__ import annotations

from mmpretrain.models.backbones.hornet import HorNetLayerNorm
from mmpretrain.models.utils.norm import GRN

from ..core import register_channel_gate


def register_mmpretrain_gates() -> None:
    """ConvNeXt-V2's GRN (per-channel ``gamma`` and ``beta``, statistics over the channels; its
    forward takes ``data_format``) and HorNet's LayerNorm (written by hand: mean and variance over
    dim 1 when channels-first)."""
    register_channel_gate(GRN)
    register_channel_gate(HorNetLayerNorm)

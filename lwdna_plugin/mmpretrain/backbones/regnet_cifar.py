"""Backbones of the paper's CIFAR experiments that mmpretrain lacks."""
from __future__ import annotations

from mmpretrain.models.backbones import RegNet
from mmpretrain.registry import MODELS


@MODELS.register_module()
class RegNetCIFAR(RegNet):
    """RegNet for 32×32 inputs, as in the paper's CIFAR rows: the 3×3 stem keeps stride 1 and
    the first two stages keep stride 1 (``strides=(1, 1, 2, 2)``). Same ``arch`` settings as
    mmpretrain's RegNet (e.g. ``'regnetx_400mf'``: depths 1, 2, 7, 12; widths 32, 64, 160,
    384; group width 16)."""

    def __init__(self, arch, strides=(1, 1, 2, 2), **kwargs):
        super().__init__(arch, strides=strides, **kwargs)

    def _make_stem_layer(self, in_channels, base_channels):
        super()._make_stem_layer(in_channels, base_channels)
        self.conv1.stride = (1, 1)

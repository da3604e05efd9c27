"""CIFAR RegNets of the paper (X-200MF, X-400MF, Y-200MF, Y-400MF), on mmpretrain's RegNet."""
from __future__ import annotations

from typing import Any, Dict, Union

import torch.utils.checkpoint as cp

from mmpretrain.models.backbones import RegNet
from mmpretrain.models.backbones.resnext import Bottleneck
from mmpretrain.models.utils import SELayer
from mmpretrain.registry import MODELS


class SEBottleneck(Bottleneck):
    """RegNetY block: mmpretrain's RegNet (ResNeXt) bottleneck with squeeze-excitation between
    the grouped 3×3 conv (after its ReLU) and the last 1×1 conv. The squeeze width is
    ``int(round(in_channels * se_ratio))`` of the *block input* width; ReLU then sigmoid, both
    SE convs with bias."""

    def __init__(self, in_channels: int, out_channels: int, se_ratio: float = 0.25, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        self.se = SELayer(self.mid_channels, squeeze_channels=int(round(in_channels * se_ratio)))

    def _residual(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(self.se(out)))
        return self.drop_path(out) + identity

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return self.relu(cp.checkpoint(self._residual, x, use_reentrant=False))
        return self.relu(self._residual(x))


@MODELS.register_module()
class RegNetCIFAR(RegNet):
    """RegNet for 32×32 inputs, as in the paper's CIFAR rows: the 3×3 stem keeps stride 1 and
    the first two stages keep stride 1 (``strides=(1, 1, 2, 2)``).

    ``arch`` is one of mmpretrain's RegNet settings, one of the CIFAR rows' settings below, or a
    dict with mmpretrain's keys plus an optional ``se_ratio`` (> 0 adds squeeze-excitation to
    every block, RegNetY). Resulting networks: X-200MF / Y-200MF depths 1, 1, 4, 7, widths 24,
    56, 152, 368, group width 8; X-400MF depths 1, 2, 7, 12, widths 32, 64, 160, 384, group width
    16; Y-400MF depths 1, 3, 6, 6, widths 48, 104, 208, 440, group width 8; the Y-models add SE
    with a squeeze width of a quarter of the block's input width.
    """

    arch_settings = dict(
        RegNet.arch_settings,
        regnetx_200mf=dict(w0=24, wa=36.44, wm=2.49, group_w=8, depth=13, bot_mul=1.0),
        regnety_200mf=dict(w0=24, wa=36.44, wm=2.49, group_w=8, depth=13, bot_mul=1.0, se_ratio=0.25),
        regnety_400mf=dict(w0=48, wa=27.89, wm=2.09, group_w=8, depth=16, bot_mul=1.0, se_ratio=0.25),
    )

    def __init__(self, arch: Union[str, Dict[str, Any]], strides=(1, 1, 2, 2), **kwargs):
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise KeyError(f'RegNetCIFAR: unknown arch {arch!r}; one of {sorted(self.arch_settings)}')
            arch = self.arch_settings[arch]
        self.se_ratio = float(arch.get('se_ratio', 0.0))
        super().__init__(dict(arch), strides=strides, **kwargs)

    def make_res_layer(self, **kwargs):
        if self.se_ratio > 0:
            kwargs.update(block=SEBottleneck, se_ratio=self.se_ratio)
        return super().make_res_layer(**kwargs)

    def _make_stem_layer(self, in_channels, base_channels):
        super()._make_stem_layer(in_channels, base_channels)
        self.conv1.stride = (1, 1)

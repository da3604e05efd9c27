"""MobileNetV1 (Howard et al., 2017), which mmpretrain lacks: the paper's Tiny-ImageNet row."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.utils import make_divisible
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm


@MODELS.register_module()
class MobileNetV1(BaseBackbone):
    """MobileNetV1: a 3×3 stem conv (32 channels) and 13 depth-wise separable blocks
    (3×3 depth-wise conv + 1×1 point-wise conv, each with BN and activation).

    Output widths 64, 128, 128, 256, 256, 512 ×6, 1024, 1024; stride 2 in the stem and in
    blocks 2, 4, 6 and 12 (``stem_stride=1`` for 32×32 inputs). The paper's Tiny-ImageNet
    MobileNetV1 is the default (stride-2 stem, ReLU6 as in the authors' definition): 3.21 M
    backbone parameters, 3.412 M with the 200-class linear head.

    Args:
        widen_factor: width multiplier of every layer (rounded to a multiple of 8).
        stem_stride: stride of the stem conv.
        out_indices: outputs of these layers (0: stem, 1..13: blocks).
        frozen_stages: freeze the stem and the first ``frozen_stages`` blocks (-1: none).
        norm_eval: keep BN layers in eval mode while training.
    """

    # (output channels, stride) of the 13 depth-wise separable blocks
    arch_settings = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                     (512, 1), (512, 1), (1024, 2), (1024, 1)]

    def __init__(self, widen_factor: float = 1.0, stem_stride: int = 2, out_indices: Sequence[int] = (13, ),
                 frozen_stages: int = -1, conv_cfg: Optional[Dict] = None, norm_cfg: Dict = dict(type='BN'),
                 act_cfg: Dict = dict(type='ReLU6'), norm_eval: bool = False,
                 init_cfg=(dict(type='Kaiming', layer=['Conv2d']),
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']))):
        super().__init__(list(init_cfg) if isinstance(init_cfg, tuple) else init_cfg)
        num_layers = len(self.arch_settings) + 1
        for index in out_indices:
            if index not in range(num_layers):
                raise ValueError(f'out_indices must be in range(0, {num_layers}), got {index}')
        if frozen_stages not in range(-1, num_layers):
            raise ValueError(f'frozen_stages must be in range(-1, {num_layers}), got {frozen_stages}')
        self.out_indices, self.frozen_stages, self.norm_eval = tuple(out_indices), frozen_stages, norm_eval
        layer_kwargs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        in_channels = make_divisible(32 * widen_factor, 8)
        self.layers = nn.ModuleList([ConvModule(3, in_channels, 3, stride=stem_stride, padding=1, **layer_kwargs)])
        for channels, stride in self.arch_settings:
            out_channels = make_divisible(channels * widen_factor, 8)
            self.layers.append(nn.Sequential(
                ConvModule(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, **layer_kwargs),
                ConvModule(in_channels, out_channels, 1, **layer_kwargs)))
            in_channels = out_channels

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for layer in self.layers[:self.frozen_stages + 1]:
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'MobileNetV1':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

"""The CIFAR DenseNet of the paper's DenseNet40 rows (no bottleneck layers, no compression)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from mmcv.cnn.bricks import build_activation_layer, build_norm_layer
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.backbones.densenet import DenseTransition
from mmpretrain.registry import MODELS


class DenseConvLayer(nn.Module):
    """Pre-activation dense layer: BN, ReLU, 3×3 conv to ``growth_rate`` new channels, which are
    concatenated after the input channels."""

    def __init__(self, in_channels: int, growth_rate: int, norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU')):
        super().__init__()
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        self.act = build_activation_layer(act_cfg)
        self.conv = nn.Conv2d(in_channels, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv(self.act(self.norm(x)))), 1)


@MODELS.register_module()
class DenseNetCIFAR(BaseBackbone):
    """DenseNet for 32×32 inputs (Huang et al., CIFAR variant): a 3×3 stem conv to
    ``2 * growth_rate`` channels, three dense blocks of ``(depth - 4) / 3`` dense layers each,
    separated by transitions (BN, ReLU, 1×1 conv to ``floor(compression * channels)``, 2×2
    average pooling, mmpretrain's ``DenseTransition``), then BN and ReLU. ``depth=40,
    growth_rate=12, compression=1`` is the paper's DenseNet40 (456 output channels).
    """

    def __init__(self, depth: int = 40, growth_rate: int = 12, compression: float = 1.0, in_channels: int = 3,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'),
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1))):
        super().__init__(init_cfg=list(init_cfg) if init_cfg is not None else None)
        if (depth - 4) % 3 or depth < 7:
            raise ValueError(f'DenseNetCIFAR: depth must be 3n + 4 (n >= 1), got {depth}')
        layers_per_block = (depth - 4) // 3
        channels = 2 * growth_rate
        self.stem = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False)
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for i in range(3):
            block = []
            for _ in range(layers_per_block):
                block.append(DenseConvLayer(channels, growth_rate, norm_cfg, act_cfg))
                channels += growth_rate
            self.stages.append(nn.Sequential(*block))
            if i < 2:
                out_channels = math.floor(compression * channels)
                self.transitions.append(DenseTransition(channels, out_channels, norm_cfg, act_cfg))
                channels = out_channels
        self.final = nn.Sequential(build_norm_layer(norm_cfg, channels)[1], build_activation_layer(act_cfg))
        self.out_channels = channels

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](x)
        return (self.final(x),)

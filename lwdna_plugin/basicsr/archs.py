"""The denoising networks of the paper's Table 2 that basicsr lacks, registered in
``ARCH_REGISTRY``: ``DnCNN`` and ``RestorationUNet``.

Sizes (see docs/basicsr.md; FLOPs in the convention of ``lwdna_plugin.core.flops``): with the
defaults, DnCNN has 557,057 parameters and 9.127 GFLOPs on a 1×128×128 image (Table 2: 0.56 M,
9.10 G); RestorationUNet has 7,759,521 parameters and 3.417 GFLOPs on 1×128×128 (Table 2:
7.76 M, 3.41 G). 128×128 is the input size the authors' code reports FLOPs at
(``--input_dim 128``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from basicsr.utils.registry import ARCH_REGISTRY

from ..core.errors import ConfigError


@ARCH_REGISTRY.register()
class DnCNN(nn.Module):
    """DnCNN (Zhang et al. 2017) with residual learning: ``num_layers`` 3×3 convs of
    ``num_feat`` channels (conv-ReLU, then conv-BN-ReLU blocks, then conv); the network
    predicts the noise and returns ``input - noise``. Convs have biases and PyTorch's default
    initialisation, as in the authors' restoration code."""

    def __init__(self, num_in_ch: int = 1, num_out_ch: int = 1, num_feat: int = 64, num_layers: int = 17):
        super().__init__()
        if num_layers < 3:
            raise ConfigError(f'DnCNN needs at least 3 layers, got {num_layers}')
        if num_in_ch != num_out_ch:
            raise ConfigError('DnCNN subtracts the predicted noise from its input: num_in_ch must equal num_out_ch')
        layers = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.ReLU(inplace=True)]
        for _ in range(num_layers - 2):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.BatchNorm2d(num_feat), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(num_feat, num_out_ch, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


class _DownBlock(nn.Module):
    """Two 3×3 conv-ReLU layers (the encoder level); pooling happens between levels."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class _UpBlock(nn.Module):
    """×2 up-sampling (nearest, then a 2×2 conv halving the channels), concatenation with the
    encoder features of the same scale, two 3×3 conv-ReLU layers."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.up = nn.Conv2d(in_ch, out_ch, 2, 1, 0)
        self.conv1 = nn.Conv2d(2 * out_ch, out_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode='nearest')
        x = self.up(F.pad(x, (0, 1, 0, 1)))
        x = torch.cat([x, skip], dim=1)
        return F.relu(self.conv2(F.relu(self.conv1(x))))


@ARCH_REGISTRY.register()
class RestorationUNet(nn.Module):
    """U-Net restoration generator of the authors' denoising code: ``depth`` encoder levels of
    ``num_feat·2^i`` channels with 2×2 max-pooling between them, a decoder that mirrors them
    with skip concatenations, a final 1×1 conv. Xavier-normal weights, zero biases.

    The authors up-sample with a 2×2 stride-2 transposed conv; here a nearest ×2 up-sampling
    followed by a 2×2 conv (the LW-DNA engine resizes plain convs, not transposed ones). It has
    exactly the transposed conv's parameters, and its multiply-adds equal what the authors'
    FLOPs counter reports for the transposed conv (that counter charges it per output pixel).
    Inputs whose sides are not multiples of ``2^(depth-1)`` are reflection-padded and the
    output is cropped back.
    """

    def __init__(self, num_in_ch: int = 1, num_out_ch: int = 1, num_feat: int = 32, depth: int = 5):
        super().__init__()
        if depth < 2:
            raise ConfigError(f'RestorationUNet needs depth >= 2, got {depth}')
        widths = [num_feat * 2 ** i for i in range(depth)]
        self.down = nn.ModuleList(_DownBlock(c_in, c_out) for c_in, c_out in zip([num_in_ch] + widths[:-1], widths))
        self.up = nn.ModuleList(_UpBlock(c, c // 2) for c in reversed(widths[1:]))
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 1)
        self.multiple = 2 ** (depth - 1)
        self.init_weights()

    def init_weights(self) -> None:
        """Xavier-normal conv weights and zero biases (the authors' initialisation); also used
        to initialise an LW-DNA copy with its new widths."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode='reflect')
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(x, skip)
        x = self.conv_last(x)
        return x[..., :h, :w] if pad_h or pad_w else x

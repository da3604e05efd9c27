"""MobileNetV3 as the paper's experiments define it (ImageNet small; Tiny-ImageNet small, large)."""
from __future__ import annotations

from typing import List

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones import MobileNetV3
from mmpretrain.models.utils import InvertedResidual, SELayer
from mmpretrain.registry import MODELS

_SE_ACTS = (dict(type='ReLU'), dict(type='HSigmoid', bias=3, divisor=6, min_value=0, max_value=1))


@MODELS.register_module()
class MobileNetV3HH(MobileNetV3):
    """mmpretrain's MobileNetV3 with the authors' differences (Table 1 rows).

    - Squeeze-excitation layers squeeze to exactly ``channels // 4`` (mmpretrain rounds up to
      a multiple of 8).
    - ``arch='small'`` adds a squeeze-excitation layer after the last 1×1 conv (576 channels).
    - ``arch='large'``: the last three blocks are (k5, 672 → 160, stride 1), (k5, 672 → 160,
      stride 2), (k5, 960 → 160, stride 1); mmpretrain's 'large' has mid widths 672, 960, 960
      and the stride in the first of them. ``arch='small'`` has mmpretrain's blocks.
    - ``stem_stride``: 2 on ImageNet, 1 on Tiny-ImageNet (a 64×64 input ends at 4×4).
    - Plain BatchNorm (PyTorch's eps and momentum) and fan-out Kaiming init of the convs.

    The classifier of the paper's network (Linear → 1280, HSwish, Linear) is mmpretrain's
    ``StackedLinearClsHead`` with ``mid_channels=[1280]``. With it: 3.108 M parameters on
    ImageNet (small), 2.083 M (small) and 4.121 M (large) with 200 classes.
    """

    arch_settings = {
        'small': MobileNetV3.arch_settings['small'],
        'large': MobileNetV3.arch_settings['large'][:12] + [[5, 672, 160, True, 'HSwish', 1],
                                                           [5, 672, 160, True, 'HSwish', 2],
                                                           [5, 960, 160, True, 'HSwish', 1]],
    }

    def __init__(self, arch: str = 'small', stem_stride: int = 2, norm_cfg=dict(type='BN'),
                 init_cfg=[dict(type='Kaiming', layer=['Conv2d'], mode='fan_out', nonlinearity='relu',
                                distribution='normal'),
                           dict(type='Normal', layer=['Linear'], std=0.01),
                           dict(type='Constant', layer=['BatchNorm2d'], val=1)], **kwargs):
        if arch not in self.arch_settings:
            raise ValueError(f'MobileNetV3HH arch must be one of {sorted(self.arch_settings)}, got {arch!r}')
        if stem_stride not in (1, 2):
            raise ValueError(f'stem_stride must be 1 or 2, got {stem_stride!r}')
        self.stem_stride = stem_stride   # read by _make_layer, which MobileNetV3.__init__ calls
        super().__init__(arch=arch, norm_cfg=norm_cfg, init_cfg=init_cfg, **kwargs)

    def _make_layer(self) -> List[str]:
        layers = []
        in_channels = 16
        self.add_module('layer0', ConvModule(3, in_channels, 3, stride=self.stem_stride, padding=1,
                                             conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                                             act_cfg=dict(type='HSwish')))
        layers.append('layer0')
        for i, (kernel_size, mid_channels, out_channels, with_se, act, stride) in \
                enumerate(self.arch_settings[self.arch]):
            se_cfg = dict(channels=mid_channels, ratio=4, divisor=1, act_cfg=_SE_ACTS) if with_se else None
            self.add_module(f'layer{i + 1}', InvertedResidual(
                in_channels=in_channels, out_channels=out_channels, mid_channels=mid_channels,
                kernel_size=kernel_size, stride=stride, se_cfg=se_cfg, conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg, act_cfg=dict(type=act), with_cp=self.with_cp))
            layers.append(f'layer{i + 1}')
            in_channels = out_channels

        last = ConvModule(in_channels, mid_channels, 1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                          act_cfg=dict(type='HSwish'))
        if self.arch == 'small':
            last = nn.Sequential(last, SELayer(mid_channels, ratio=4, divisor=1, act_cfg=_SE_ACTS))
        name = f'layer{len(self.arch_settings[self.arch]) + 1}'
        self.add_module(name, last)
        layers.append(name)
        return layers

"""MobileNetV2 with per-stage strides: the paper's Tiny-ImageNet MobileNetV2."""
from __future__ import annotations

from typing import Sequence

from mmpretrain.models.backbones import MobileNetV2
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MobileNetV2HH(MobileNetV2):
    """mmpretrain's MobileNetV2 with the stride of each of its 7 stages given by ``strides``.

    The default is the network of the paper's Tiny-ImageNet row (the authors' definition for
    non-ImageNet data): the second stage (24 channels) keeps stride 1, so a 64×64 input ends
    at 4×4 (stem stride 2, then ``strides=(1, 1, 2, 2, 1, 2, 1)``). mmpretrain's ImageNet
    MobileNetV2 is ``strides=(1, 2, 2, 2, 1, 2, 1)``. Every other argument is MobileNetV2's.
    """

    def __init__(self, strides: Sequence[int] = (1, 1, 2, 2, 1, 2, 1), **kwargs):
        if len(strides) != len(MobileNetV2.arch_settings) or any(s not in (1, 2) for s in strides):
            raise ValueError(f'strides must be {len(MobileNetV2.arch_settings)} values of 1 or 2, got {strides}')
        # read by MobileNetV2.__init__ instead of the class attribute
        self.arch_settings = [[expand, channels, blocks, stride] for (expand, channels, blocks, _), stride
                              in zip(MobileNetV2.arch_settings, strides)]
        super().__init__(**kwargs)

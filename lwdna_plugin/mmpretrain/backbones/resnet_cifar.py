"""The thin CIFAR ResNets (ResNet-20/32/44/56/110) of the paper's CIFAR10 ResNet56 row."""
from __future__ import annotations

from mmpretrain.models.backbones import ResNet_CIFAR
from mmpretrain.models.backbones.resnet import BasicBlock
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ResNetCIFAR(ResNet_CIFAR):
    """He et al.'s CIFAR ResNet: a 3×3 stride-1 stem of 16 channels, three stages of
    ``(depth - 2) / 6`` basic blocks with 16, 32, 64 channels (strides 1, 2, 2), and 1×1-conv +
    BN projection shortcuts where the shape changes (the paper's option "C"; channel
    zero-padding shortcuts are not used). ``depth=56`` is the paper's ResNet56.

    Not to be confused with mmpretrain's ``ResNet_CIFAR``, which keeps the four ImageNet stages
    of 64–512 channels and only changes the stem.
    """

    arch_settings = {depth: (BasicBlock, ((depth - 2) // 6,) * 3) for depth in (20, 32, 44, 56, 110)}

    def __init__(self, depth: int = 56, stem_channels: int = 16, base_channels: int = 16, num_stages: int = 3,
                 strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2,), **kwargs):
        super().__init__(depth, stem_channels=stem_channels, base_channels=base_channels, num_stages=num_stages,
                         strides=strides, dilations=dilations, out_indices=out_indices, **kwargs)

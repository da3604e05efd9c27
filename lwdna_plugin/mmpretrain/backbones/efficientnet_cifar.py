"""The CIFAR EfficientNet(-B0) of the paper's CIFAR100 EfficientNet row, on mmpretrain's."""
from __future__ import annotations

from mmpretrain.models.backbones import EfficientNet
from mmpretrain.registry import MODELS


@MODELS.register_module()
class EfficientNetCIFAR(EfficientNet):
    """EfficientNet for 32×32 inputs: mmpretrain's EfficientNet (B0 blocks: MBConv with
    squeeze-excitation to a quarter of the block input width, Swish, 1×1 head conv to 1280) with
    the stem conv and the first blocks of the 24- and 40-channel stages at stride 1, so the
    feature map is 32×32 up to the 80-channel stage, then 16×16 and 8×8. As in the CIFAR
    reference, convs use symmetric ``k // 2`` padding and BatchNorm keeps PyTorch's default eps.

    ``widen_factor`` multiplies the arch's width factor (the reference's ``width_mult``; widths
    are rounded to multiples of 8 by mmpretrain's scaling).
    """

    def __init__(self, arch: str = 'b0', widen_factor: float = 1.0, conv_cfg=None, norm_cfg=dict(type='BN'),
                 **kwargs):
        if arch not in self.arch_settings:
            raise KeyError(f'EfficientNetCIFAR: unknown arch {arch!r}; one of {sorted(self.arch_settings)}')
        width, depth, resolution = self.arch_settings[arch]
        self.arch_settings = {arch: (width * widen_factor, depth, resolution)}   # this instance's scaling
        super().__init__(arch, conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)
        # layers: 0 stem, 1 the 16-channel stage, 2 the 24-channel stage, 3 the 40-channel stage
        self.layers[0].conv.stride = (1, 1)
        for stage in (self.layers[2], self.layers[3]):
            stage[0].depthwise_conv.conv.stride = (1, 1)

"""Backbones of the paper's Table 1 that mmpretrain lacks, registered in mmpretrain's MODELS."""
from .mobilenet_v1 import MobileNetV1
from .mobilenet_v2 import MobileNetV2HH
from .mobilenet_v3 import MobileNetV3HH
from .regnet_cifar import RegNetCIFAR

__all__ = ['RegNetCIFAR', 'MobileNetV1', 'MobileNetV2HH', 'MobileNetV3HH']

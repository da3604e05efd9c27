"""Backbones of the paper's Table 1 that mmpretrain lacks, registered in mmpretrain's MODELS."""
from .densenet_cifar import DenseNetCIFAR
from .efficientnet_cifar import EfficientNetCIFAR
from .mobilenet_v1 import MobileNetV1
from .mobilenet_v2 import MobileNetV2HH
from .mobilenet_v3 import MobileNetV3HH
from .regnet_cifar import RegNetCIFAR
from .resnet_cifar import ResNetCIFAR

__all__ = ['RegNetCIFAR', 'ResNetCIFAR', 'DenseNetCIFAR', 'EfficientNetCIFAR', 'MobileNetV1', 'MobileNetV2HH',
           'MobileNetV3HH']

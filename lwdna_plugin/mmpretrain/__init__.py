"""mmpretrain adapter. Importing it registers, in mmpretrain's / mmengine's registries:
``LWDNAClassifier``, ``KDClassifier`` and the CIFAR backbones ``RegNetCIFAR``, ``ResNetCIFAR``,
``DenseNetCIFAR``, ``EfficientNetCIFAR`` (MODELS), ``LWDNAHook`` (HOOKS), ``LWDNARunner`` (RUNNERS) and the
embedded ``DigitsClassification`` dataset and ``TinyImageNet`` (DATASETS); the ImageNet /
Tiny-ImageNet backbones ``MobileNetV1``, ``MobileNetV2HH``, ``MobileNetV3HH`` (MODELS); and
mmpretrain's channel-mixing layers (ConvNeXt-V2's ``GRN``) as channel gates.

It also makes ``_base_ = ['lwdna_plugin::lwdna/demo_digits.py']`` resolve (:mod:`lwdna_plugin.configs`).
OpenMMLab configs load it with ``custom_imports = dict(imports=['lwdna_plugin.mmpretrain'])``."""
from .backbones import RegNetCIFAR
from .checkpoint import channel_config_from_checkpoint, load_mmengine_checkpoint, mmengine_checkpoint_loading
from .datasets import DigitsClassification
from .distill import KDClassifier, kd_loss
from .gates import register_mmpretrain_gates
from .hooks import LWDNAHook
from .model import LWDNAClassifier
from .runner import LWDNARunner
from .tiny_imagenet import TinyImageNet
from ..configs import register_config_package, resolve_config

register_config_package()
register_mmpretrain_gates()

__all__ = ['RegNetCIFAR', 'LWDNAClassifier', 'KDClassifier', 'kd_loss', 'LWDNAHook', 'LWDNARunner', 'DigitsClassification',
           'TinyImageNet', 'channel_config_from_checkpoint', 'load_mmengine_checkpoint',
           'mmengine_checkpoint_loading', 'resolve_config']

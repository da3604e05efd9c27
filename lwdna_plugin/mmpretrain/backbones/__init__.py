"""Backbones of the paper's Table 1 that mmpretrain lacks, registered in mmpretrain's MODELS."""
from .regnet_cifar import RegNetCIFAR

__all__ = ['RegNetCIFAR']

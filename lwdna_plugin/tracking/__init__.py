"""pytracking (DiMP) side: a ResNet50 backbone with LW-DNA widths that follows pytracking's
backbone interface, the widths format, and the ``dimpnet50`` keyword arguments. Imports no
pytracking and no mmpretrain; the mmpretrain export lives in :mod:`.export`."""
from .dimp import dimpnet50_kwargs
from .resnet import LWDNAResNet, resnet50_lwdna
from .weights import read_state_dict
from .widths import (baseline_widths, load_widths, out_feature_channels, save_widths, validate_widths,
                     widths_from_state_dict)

__all__ = ['resnet50_lwdna', 'LWDNAResNet', 'dimpnet50_kwargs', 'baseline_widths', 'load_widths', 'save_widths',
           'validate_widths', 'out_feature_channels', 'widths_from_state_dict', 'read_state_dict']

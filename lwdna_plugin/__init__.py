"""lwdna_plugin: LW-DNA (the Heterogeneity Hypothesis, CVPR 2021) for existing model zoos."""
from .core import (ChannelConfigMismatchError, ConfigError, InfeasibleTargetError, LWDNAConfig, LWDNAError,
                   ShrinkResult, UnsupportedModelError, apply_channel_config, count_flops_params, shrink,
                   widen)

__version__ = '0.1.0'
__all__ = ['LWDNAConfig', 'shrink', 'widen', 'ShrinkResult', 'apply_channel_config', 'count_flops_params',
           'LWDNAError', 'ConfigError', 'UnsupportedModelError', 'InfeasibleTargetError',
           'ChannelConfigMismatchError']

"""Framework-agnostic LW-DNA engine (imports no model zoo)."""
from .channel_config import apply_channel_config, load_channel_config, save_channel_config, validate_channel_config
from .config import LWDNAConfig
from .errors import (ChannelConfigMismatchError, CheckpointError, ConfigError, InfeasibleTargetError, LWDNAError,
                     OutputError, UnsupportedModelError)
from .flops import CostModel, count_flops_params
from .groups import ChannelGraph, ChannelGroup, build_channel_graph, register_channel_gate
from .resize import resize_groups, select_units
from .shrink import ShrinkResult, check_target, shrink, widen

__all__ = ['LWDNAConfig', 'shrink', 'check_target', 'widen', 'ShrinkResult', 'apply_channel_config', 'count_flops_params',
           'load_channel_config', 'save_channel_config', 'validate_channel_config', 'build_channel_graph',
           'register_channel_gate',
           'ChannelGraph', 'ChannelGroup', 'CostModel', 'resize_groups', 'select_units', 'LWDNAError',
           'ConfigError', 'UnsupportedModelError', 'InfeasibleTargetError', 'ChannelConfigMismatchError',
           'CheckpointError', 'OutputError']

"""lwdna_plugin: LW-DNA (the Heterogeneity Hypothesis, CVPR 2021) for existing model zoos."""
from .core import (ChannelConfigMismatchError, CheckpointError, ConfigError, InfeasibleTargetError, LWDNAConfig, LWDNAError,
                   OutputError, ShrinkResult, UnsupportedModelError, apply_channel_config, count_flops_params,
                   shrink, widen)
from .version import __version__


def _register_zoo_adapters() -> None:
    """Import the adapters of the installed zoos, so that an OpenMMLab config's
    ``custom_imports = dict(imports=['lwdna_plugin'])`` registers the plugin's models,
    hooks, runner and datasets."""
    import importlib.util

    if importlib.util.find_spec('mmpretrain') is not None:
        from . import mmpretrain  # noqa: F401


_register_zoo_adapters()
__all__ = ['LWDNAConfig', 'shrink', 'widen', 'ShrinkResult', 'apply_channel_config', 'count_flops_params',
           'LWDNAError', 'ConfigError', 'UnsupportedModelError', 'InfeasibleTargetError',
           'ChannelConfigMismatchError', 'CheckpointError', 'OutputError']

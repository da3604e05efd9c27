"""Exceptions raised by the LW-DNA engine; each message names what is wrong."""
from typing import List, Optional


class LWDNAError(Exception):
    """Base class of every error the plugin raises on bad input."""


class ConfigError(LWDNAError, ValueError):
    """An invalid hyper-parameter or option value."""


class SearchDivergedError(ConfigError):
    """The search's optimizer steps made the widened network's loss, latent gradients or output
    non-finite (its learning rate is too large for this network and loss)."""


class UnsupportedModelError(LWDNAError):
    """The model contains an op or layer whose channel behaviour we do not model; ``module``:
    the module whose forward runs that op, where known; ``also``: the other refusals the same
    check found (in other modules)."""

    def __init__(self, message: str, module: Optional[str] = None):
        super().__init__(message)
        self.module = module
        self.also: List[UnsupportedModelError] = []


class InfeasibleTargetError(LWDNAError):
    """The FLOPs/params target cannot be reached under the floors."""


class ChannelConfigMismatchError(LWDNAError):
    """A channel config was made for a different model."""


class CheckpointError(LWDNAError):
    """A checkpoint that cannot be read, or that asks to unpickle something not allowed."""


class OutputError(LWDNAError):
    """Results that cannot be written: the work dir is a file or read-only, or it already
    holds results and overwriting was not asked for."""

"""Registries of the ``lwdna_plugin`` scope (imported by mmengine as ``lwdna_plugin.registry``).

A config inherited as ``lwdna_plugin::...`` gets ``_scope_='lwdna_plugin'``; mmengine then
builds its objects from these registries, children of mmpretrain's, so every mmpretrain and
plugin type resolves as in the ``mmpretrain`` scope."""
from .mmpretrain.registry import *  # noqa: F401,F403
from .mmpretrain.registry import __all__  # noqa: F401

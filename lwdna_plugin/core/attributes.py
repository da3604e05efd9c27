"""Keep wrapper modules' width attributes (``in_channels``, ``out_channels``, ...) consistent with
the resized layers they hold, so that zoo code reading them (mmpretrain's RepVGG
``switch_to_deploy``, MobileOne, timm's ``reparameterize``) builds layers of the right size,
and the split sizes a forward pass reads (Res2Net's ``width``, CSPNet's ``expand_chs``,
MixNet's ``splits``) consistent with the pieces they cut."""
from __future__ import annotations

from typing import Callable, Dict, Optional, Set, Tuple

import torch.nn as nn

from .groups import CONV_TYPES, ChannelGraph

# width attributes of wrapper modules, matched against the input (0), output (1) channels or
# the conv groups (2, a depthwise block's ``groups``) of the layers inside them
IN_ATTRS = ('in_channels', 'in_features', 'in_chs', 'in_planes', 'inplanes')
OUT_ATTRS = ('out_channels', 'out_features', 'out_chs', 'num_features')
EITHER_ATTRS = ('channels', 'num_channels')
LAYER_TYPES = CONV_TYPES + (nn.Linear, nn.modules.batchnorm._BatchNorm)


def layer_sizes(module: nn.Module) -> Tuple[int, int, int]:
    """(input channels, output channels, groups) of a conv / linear / batch norm."""
    if isinstance(module, CONV_TYPES):
        return module.in_channels, module.out_channels, module.groups
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, 1
    return module.num_features, module.num_features, 1


def sync_width_attributes(before: nn.Module, after: nn.Module) -> None:
    """For every wrapper module of ``after`` (same structure as ``before``, some layers resized),
    set each integer width attribute to the new width of the layers inside it that had the
    attribute's old value, when they all agree. Where they disagree (a heterogeneous block, e.g.
    a bottleneck's ``mid_channels`` feeding two differently pruned layers) it stays as it was."""
    old_layers = {n: layer_sizes(m) for n, m in before.named_modules() if isinstance(m, LAYER_TYPES)}
    new_layers = {n: layer_sizes(m) for n, m in after.named_modules() if isinstance(m, LAYER_TYPES)}
    if old_layers == new_layers:
        return
    for name, wrapper in after.named_modules():
        if isinstance(wrapper, LAYER_TYPES):
            continue
        prefix = f'{name}.' if name else ''
        inside = [n for n in old_layers if n.startswith(prefix)]
        if not inside:
            continue
        for attr, sides in [(a, (0,)) for a in IN_ATTRS] + [(a, (1,)) for a in OUT_ATTRS] + \
                [(a, (0, 1)) for a in EITHER_ATTRS] + [('groups', (2,))]:
            old = wrapper.__dict__.get(attr)
            if type(old) is not int:
                continue
            new = _agreed_width(old, sides, inside, old_layers, new_layers)
            if new is not None:
                setattr(wrapper, attr, new)


def _agreed_width(old: int, sides: Tuple[int, ...], inside, old_layers: Dict, new_layers: Dict) -> Optional[int]:
    candidates: Set[int] = set()
    for layer in inside:
        for side in sides:
            if old_layers[layer][side] == old:
                candidates.add(new_layers[layer][side])
    return candidates.pop() if len(candidates) == 1 else None


def sync_split_attributes(graph: ChannelGraph, model: nn.Module, channels_of: Callable[[int, int], int]) -> None:
    """For every channel split of ``graph``, update the attribute of the module running it that
    holds the old piece size (an equal split), the old total or the old list of sizes.
    ``channels_of(group, channels)`` is the new channel count of that many channels of a group.
    A split whose sizes the forward computes from its input needs nothing; a missed attribute
    makes the resized model fail to run, which the caller reports."""
    modules = dict(model.named_modules())
    for split in graph.splits:
        old = split.sizes(lambda g, c: c)
        new = split.sizes(channels_of)
        module = modules.get(split.module)
        if old == new or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if attr.startswith('_'):
                continue
            if type(value) is int:
                if split.equal and value == old[0] and len(set(new)) == 1:
                    setattr(module, attr, new[0])
                elif value == sum(old):
                    setattr(module, attr, sum(new))
            elif isinstance(value, (list, tuple)) and list(value) == old:
                setattr(module, attr, type(value)(new))

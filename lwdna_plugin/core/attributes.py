"""Keep wrapper modules' width attributes (``in_channels``, ``out_channels``, ...) consistent with
the resized layers they hold, so that zoo code reading them (mmpretrain's RepVGG
``switch_to_deploy``, MobileOne, timm's ``reparameterize``) builds layers of the right size,
and the split sizes a forward pass reads (Res2Net's ``width``, CSPNet's ``expand_chs``,
MixNet's ``splits``) consistent with the pieces they cut."""
from __future__ import annotations

import functools
import inspect
import re
from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple

import numpy as np
import torch.nn as nn

from .channel_graph import ChannelGraph
from .layer_types import CONV_TYPES

# width attributes of wrapper modules, matched against the input (0), output (1) channels or
# the conv groups (2, a depthwise block's ``groups``) of the layers inside them
IN_ATTRS = ('in_channels', 'in_features', 'in_chs', 'in_planes', 'inplanes')
OUT_ATTRS = ('out_channels', 'out_features', 'out_chs', 'num_features')
EITHER_ATTRS = ('channels', 'num_channels')
# integer attributes that are never a channel count, whatever their value
NOT_WIDTHS = frozenset({'stride', 'dilation', 'padding', 'kernel_size', 'scale', 'num_scales', 'depth',
                        'num_classes', 'num_heads', 'groups', 'cardinality'})
LAYER_TYPES = CONV_TYPES + (nn.Linear, nn.modules.batchnorm._BatchNorm)
# attributes of an attention module holding its heads' total width, which its forward reshapes to
HEAD_WIDTH_ATTRS = ('attn_dim', 'embed_dims', 'all_head_dim', 'inner_dim', 'dh', 'val_attn_dim', 'out_dim')


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
    attribute's old value, when they all agree. Where they disagree, an output attribute
    (``out_channels``) takes the width of the last such layer (what the block returns); any other
    (a bottleneck's ``mid_channels`` feeding two differently pruned layers) stays as it was."""
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
            if new is None and attr in OUT_ATTRS:
                new = _last_width(old, inside, old_layers, new_layers)
            if new is not None:
                setattr(wrapper, attr, new)


def _agreed_width(old: int, sides: Tuple[int, ...], inside, old_layers: Dict, new_layers: Dict) -> Optional[int]:
    candidates: Set[int] = set()
    for layer in inside:
        for side in sides:
            if old_layers[layer][side] == old:
                candidates.add(new_layers[layer][side])
    return candidates.pop() if len(candidates) == 1 else None


def _last_width(old: int, inside, old_layers: Dict, new_layers: Dict) -> Optional[int]:
    """The new output width of the last layer inside a wrapper that had ``old`` outputs: what the
    wrapper returns (VAN's ``block.out_channels``, read to reshape the stage output, where the
    block's attention layers inside keep other widths)."""
    last = [layer for layer in inside if old_layers[layer][1] == old]
    return new_layers[last[-1]][1] if last else None


def sync_split_attributes(graph: ChannelGraph, model: nn.Module, channels_of: Callable[[int, int], int]) -> None:
    """For every channel split / slice of ``graph``, update the attributes of the module running
    it that hold an old piece size (of an equal split), an old boundary (a slice's start or end,
    a split's total) or the old list of sizes. ``channels_of(group, channels)`` is the new channel
    count of that many channels of a group. A split whose sizes the forward computes from its
    input needs nothing; a missed attribute makes the resized model fail to run or the probe
    differ, which the caller reports."""
    renamed: Dict[str, Dict[int, Set[int]]] = {}     # module -> old value -> new values
    lists: Dict[str, Dict[Tuple[int, ...], List[int]]] = {}
    # splits and slices first: a concat's boundaries only name values no split or slice has
    for split in sorted(graph.splits, key=lambda s: s.concat):
        old, new = split.sizes(lambda g, c: c), split.sizes(channels_of)
        values = renamed.setdefault(split.module, {})
        if split.concat:
            values = {a: b for a, b in _boundaries(old, new).items() if a not in values} | values
            renamed[split.module] = values
            continue
        for a, b in _boundaries(old, new).items():
            values.setdefault(a, set()).update(b)
        if split.equal:
            values.setdefault(old[0], set()).add(new[0])
        lists.setdefault(split.module, {})[tuple(old)] = new
    modules, originals = dict(model.named_modules()), dict(graph.model.named_modules())
    for name, values in renamed.items():
        module = modules.get(name)
        if module is None:
            continue
        for attr, value in list(vars(module).items()):   # each attribute renamed once, from its old value
            if attr.startswith('_') or attr in NOT_WIDTHS:
                continue
            if attr in IN_ATTRS:   # the input the module splits (timm's SelectiveKernel cuts ``in_channels``)
                value = vars(originals[name]).get(attr, value)
            if type(value) is int and value > 0 and len(values.get(value, ())) == 1:
                setattr(module, attr, next(iter(values[value])))
            elif isinstance(value, (list, tuple)) and tuple(value) in lists[name]:
                setattr(module, attr, type(value)(lists[name][tuple(value)]))


def _boundaries(old: List[int], new: List[int]) -> Dict[int, Set[int]]:
    """Old cumulative piece boundary -> the new ones it becomes."""
    out: Dict[int, Set[int]] = {}
    for a, b in zip(np.cumsum(old)[1:].tolist(), np.cumsum(new)[1:].tolist()):
        out.setdefault(a, set()).add(b)
    return out


def sync_head_attributes(graph: ChannelGraph, model: nn.Module, heads_of: Mapping[int, int]) -> None:
    """Set every attention module's ``num_heads`` and the width its forward reshapes the heads to
    (``attn_dim``, ``embed_dims``, ...: heads × channels per head) to the heads kept; ``heads_of``:
    group -> units (heads) it keeps. The channels per head (and so the softmax scale) do not change."""
    modules = dict(model.named_modules())
    for name, regions in graph.heads.items():
        module, original = modules.get(name), vars(graph.modules[name])
        if module is None:
            continue
        for group, per_head in regions:
            heads, new = graph.groups[group].num_units, heads_of[group]
            if original.get('num_heads') == heads:
                module.num_heads = new
            for attr in HEAD_WIDTH_ATTRS:
                if original.get(attr) == heads * per_head:
                    setattr(module, attr, new * per_head)



def heads_from_stream_width(model: nn.Module) -> Dict[str, str]:
    """Attention modules whose forward computes the channels per head from the width of the tensor
    it gets (``C // self.num_heads``: Twins, XCiT, mmpretrain's Swin) or, having split the channels
    into ``self.num_heads`` heads, merges them back to that width (``reshape(B, N, C)``: BEiT):
    name -> class name. Their heads and the stream they read can only change width together,
    which per-channel units cannot express: both are kept."""
    return {name: type(m).__name__ for name, m in model.named_modules()
            if isinstance(getattr(m, 'num_heads', None), int) and _heads_sized_by_input(type(m))}


@functools.lru_cache(maxsize=None)
def _heads_sized_by_input(cls: type) -> bool:
    try:
        source = inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return False
    splits_heads = re.search(r'\.(reshape|view)\([^()]*self\.num_heads', source) is not None
    return re.search(r'//\s*self\.num_heads\b', source) is not None or \
        (splits_heads and re.search(r'\.(reshape|view)\(\w+, \w+, C\)', source) is not None)

"""What the grouping finds: channel dims, units and groups (:class:`ChannelGraph`), and how a
dim is laid out group by group."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch.nn as nn

from .errors import UnsupportedModelError
from .tracing import OpRecord

Segment = Tuple[int, int, int]   # (group index or -1 for fixed slots, channels per unit, units or slots)


@dataclass
class Dim:
    """One channel dimension of a layer ('in' or 'out') or of an op's output tensor."""

    key: str
    kind: str
    size: int
    offset: int
    module: Optional[Union[nn.Module, nn.Parameter]] = None   # the layer, or a per-channel parameter
    axis: Optional[int] = None   # a parameter's channel axis (a position embedding (1, L, C): 2)


@dataclass
class ChannelGroup:
    """Coupled channels that share one latent vector and one keep decision per unit."""

    index: int
    units: np.ndarray                 # global unit ids, canonical order
    unit_channels: int                # channels per unit in the group's first layer
    fixed_reason: str = ''            # non-empty: never widened or pruned
    feeds_classifier: bool = False
    members: Tuple[str, ...] = ()     # 'layer.name:out' of every layer dim it touches

    @property
    def fixed(self) -> bool:
        return bool(self.fixed_reason)

    @property
    def num_units(self) -> int:
        return len(self.units)

    @property
    def name(self) -> str:
        return self.members[0] if self.members else f'group{self.index}'


@dataclass(frozen=True)
class ChannelSplit:
    """A split of the channels into pieces inside ``module`` (``split`` / ``chunk``, the
    boundaries of a slice ``x[:, a:b]``, or the inputs of a ``torch.cat``): what each piece is
    made of, as (group index or -1 for fixed channels, channels) runs."""

    module: str
    equal: bool                                           # one piece size (split(int), chunk)
    pieces: Tuple[Tuple[Tuple[int, int], ...], ...]      # a slice x[:, a:b]: [0, a), [a, b), [b, C)
    concat: bool = False                                  # the inputs of a torch.cat, not a split

    def sizes(self, channels_of: Callable[[int, int], int]) -> List[int]:
        """Piece sizes, given ``channels_of(group, channels now)`` -> channels after a resize."""
        return [sum(c if g < 0 else channels_of(g, c) for g, c in piece) for piece in self.pieces]

    def resized(self, channels_of: Callable[[int, int], int]) -> 'ChannelSplit':
        """The same split in a resized model."""
        return dataclasses.replace(self, pieces=tuple(tuple((g, c if g < 0 else channels_of(g, c)) for g, c in piece)
                                                      for piece in self.pieces))


@dataclass
class ChannelGraph:
    """Everything later stages need about a model's channel structure."""

    model: nn.Module
    dims: Dict[Tuple[str, str], Dim]
    slot_unit: np.ndarray            # slot -> global unit id
    unit_group: np.ndarray           # unit -> group index, -1 for units no group owns (input)
    unit_local: np.ndarray           # unit -> position inside its group
    groups: List[ChannelGroup]
    modules: Dict[str, nn.Module]
    classifiers: List[str]
    traced: set                      # names of the layers the forward pass uses
    op_records: List[Tuple[OpRecord, Optional[str]]] = field(default_factory=list)  # op, its dim key
    splits: List[ChannelSplit] = field(default_factory=list)
    shuffles: int = 0                # channel shuffles traced (their coupling may depend on the width)
    convs_by_position: frozenset = frozenset()   # group convs that keep their groups, pruned by position
    weights_computed: frozenset = frozenset()    # layers whose weight the forward computes (standardises)
    token_mixing: frozenset = frozenset()        # Linear layers over the tokens (channel-preserving)
    kept_whole: Dict[str, str] = field(default_factory=dict)   # module kept whole (kept_whole.py) -> why
    heads: Dict[str, Tuple[Tuple[int, int], ...]] = field(default_factory=dict)   # attention module ->
    #                                                 (group whose units are its heads, channels per head)

    def conv_groups(self, name: str, module: nn.Module, out_size: int, in_size: int) -> int:
        """The ``groups`` of group conv ``name`` with ``out_size`` / ``in_size`` channels: the same
        count where it is pruned by position within every group (split attention's radix conv),
        else whole groups of its in / out channels per group."""
        if module.groups == 1:
            return 1
        if name in self.convs_by_position:
            groups = module.groups
            fits = out_size % groups == 0 and in_size % groups == 0
        else:
            out_per_group, in_per_group = module.out_channels // module.groups, module.in_channels // module.groups
            groups = out_size // out_per_group
            fits = out_size % out_per_group == 0 and in_size == groups * in_per_group
        if not fits:
            raise UnsupportedModelError(f'group conv {name!r} cannot take {in_size}->{out_size} channels '
                                        f'in {groups} groups')
        return groups

    def units_of(self, key: str, kind: str) -> np.ndarray:
        dim = self.dims[(key, kind)]
        return self.slot_unit[dim.offset:dim.offset + dim.size]

    def layer_dims(self, name: str) -> Tuple[Optional[Dim], Optional[Dim]]:
        """(out, in) dims of a module; 'in' is None for per-channel layers."""
        return self.dims.get((name, 'out')), self.dims.get((name, 'in'))

    @property
    def prunable_groups(self) -> List[ChannelGroup]:
        return [g for g in self.groups if not g.fixed]

    def groups_producing(self, layers: Sequence[str]) -> set:
        """Indices of the groups that hold the output channels of ``layers`` (module names or
        their parents); raise :class:`UnsupportedModelError` for a name that matches no layer."""
        found = set()
        for prefix in layers:
            hits = {g.index for g in self.groups for m in g.members
                    if m.endswith(':out') and within(m[:-4], prefix)}
            if not hits:
                raise UnsupportedModelError(f'unpruned layer {prefix!r} is not a layer of the model '
                                            'with output channels')
            found |= hits
        return found

    def signature(self) -> List[Dict[str, Any]]:
        """What identifies the model's groups (compared by ``apply_channel_config``)."""
        return [dict(index=g.index, members=list(g.members), num_units=g.num_units,
                     unit_channels=g.unit_channels, fixed=g.fixed) for g in self.groups]


def share_latents(graph: ChannelGraph, channels: int) -> ChannelGraph:
    """The same graph with one unit (one latent element, one keep decision) per ``channels``
    consecutive channels in every prunable group of single-channel units whose size is a
    multiple of it; other groups are unchanged. The authors' CIFAR RegNet shares each latent
    element among 4 channels of the stem and stage widths (``width // 4`` latents)."""
    if channels == 1:
        return graph
    new_of_old = np.empty(len(graph.unit_group), dtype=np.int64)
    groups, unit_group, unit_local, next_id = [], [], [], 0
    for g in graph.groups:
        k = channels if not g.fixed and g.unit_channels == 1 and g.num_units % channels == 0 else 1
        count = g.num_units // k
        ids = np.arange(next_id, next_id + count)
        new_of_old[g.units] = ids[np.arange(g.num_units) // k]   # g.units is in local order
        groups.append(dataclasses.replace(g, units=ids, unit_channels=g.unit_channels * k))
        unit_group.append(np.full(count, g.index))
        unit_local.append(np.arange(count))
        next_id += count
    ungrouped = np.nonzero(graph.unit_group < 0)[0]
    new_of_old[ungrouped] = np.arange(next_id, next_id + len(ungrouped))
    unit_group.append(np.full(len(ungrouped), -1))
    unit_local.append(np.full(len(ungrouped), -1))
    return dataclasses.replace(graph, slot_unit=new_of_old[graph.slot_unit], unit_group=np.concatenate(unit_group),
                               unit_local=np.concatenate(unit_local), groups=groups)


def within(name: str, parent: str) -> bool:
    """True if module ``name`` is ``parent`` or inside it."""
    return name == parent or name.startswith(parent + '.')


def dim_layout(graph: ChannelGraph, dim: Dim) -> List[Segment]:
    """Split a dim into runs, each one whole group in unit order (or fixed slots)."""
    units = graph.slot_unit[dim.offset:dim.offset + dim.size]
    groups = graph.unit_group[units]
    local = graph.unit_local[units]
    segments: List[Segment] = []
    start = 0
    while start < len(units):
        g = int(groups[start])
        if g < 0:
            end = start
            while end < len(units) and groups[end] < 0:
                end += 1
            segments.append((-1, 1, end - start))
            start = end
            continue
        # one whole copy of group g (a group may recur in a dim: ``cat([x, x])``, split pieces)
        n_units = graph.groups[g].num_units
        per_unit = 1
        while start + per_unit < len(units) and groups[start + per_unit] == g and local[start + per_unit] == 0:
            per_unit += 1
        end = start + per_unit * n_units
        if local[start] != 0 or end > len(units) or not np.array_equal(
                groups[start:end], np.full(end - start, g)) or not np.array_equal(
                local[start:end], np.repeat(np.arange(n_units), per_unit)):
            raise UnsupportedModelError(
                f'the channels of {dim.key!r} ({dim.kind}) are not laid out group by group; '
                'it cannot be widened')
        segments.append((g, per_unit, n_units))
        start = end
    return segments

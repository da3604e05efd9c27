"""Exact channel index maps for channel concatenation and splitting.

torch-pruning 1.6.1 maps indices through ``torch.cat`` and ``split`` / ``chunk`` with offsets
it infers from layer shapes and pairs them with a node's inputs / outputs in traversal order.
Where the inference fails the offsets are ``None`` and the op is silently treated as
element-wise; a split's pieces are matched to their consumers by the order the graph was
walked, not by which piece each consumer reads. Both couple the wrong channels (CSPNet,
Res2Net, MixNet, DLA roots). We replace those maps after the graph is built with ones read
from the autograd graph itself: the sizes of the pieces (saved by autograd) and, for every
consumer, which pieces it reads (the ``output_nr`` of its edge). A tensor that appears
several times (``cat([x, x])``) or a consumer that reads several pieces couples every
position it occupies.
"""
from __future__ import annotations

from itertools import chain
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch_pruning as tp
from torch_pruning._helpers import _HybridIndex

import numpy as np

from .channel_graph import within
from .errors import UnsupportedModelError
from .heads import Attention, find_attention
from .kept_whole import KeptOutputs, make_kept_nodes
from .layouts import UNFOLDS, axis, channel_axes, merged_channels, parameter_axes, through_clones, token_mixing
from .reshapes import VIEW_NODES, drops_unit_dims, keeps_channels
from .shuffle import ChannelShuffle, ShufflePermutation, find_channel_shuffles
from .split_attention import SplitAttention, find_split_attention

Ranges = Tuple[Tuple[int, int, int], ...]   # (offset in the source, offset in the target, size)


class _Shift:
    """Channel ``src + j`` of one tensor is channel ``dst + j`` of another, for each range
    (every position a tensor holds in a concatenation, every piece of a split a consumer reads)."""

    def __init__(self, ranges: Ranges):
        self.ranges = ranges

    def __call__(self, idxs: Sequence[_HybridIndex]) -> List[_HybridIndex]:
        out = {}
        for i in idxs:
            for src, dst, size in self.ranges:
                if src <= i.idx < src + size:
                    out.setdefault((i.idx - src + dst, i.root_idx), None)
        return [_HybridIndex(idx=j, root_idx=r) for j, r in out]


def _couple(source, target, ranges: List[Tuple[int, int, int]]) -> None:
    """Map indices both ways between ``source`` and ``target`` through ``ranges``."""
    _set_maps(source, target, _Shift(tuple(ranges)))
    _set_maps(target, source, _Shift(tuple((d, s, n) for s, d, n in ranges)))


def _set_maps(source, target, mapping) -> None:
    for dep in source.dependencies:
        if dep.target is target:
            dep.index_mapping = [mapping, None]


def _channel_dim(dim: Optional[int], ndim: int) -> Optional[int]:
    if dim is None or ndim == 0:
        return None
    return axis(dim, ndim)   # autograd saves a negative dim as unsigned 64-bit


def split_sizes(fn: Any, axes: Optional[Dict[Any, Optional[int]]] = None) -> Optional[List[int]]:
    """Piece sizes of a SplitBackward0 / SplitWithSizesBackward0 along the channel dim (the one
    ``axes`` gives the split, :mod:`.layouts`; else 1: SwiGLU chunks channels-last tokens on the
    last), None for a split along another dim."""
    shape = list(getattr(fn, '_saved_self_sym_sizes', ()) or ())
    dim = _channel_dim(getattr(fn, '_saved_dim', None), len(shape))
    channels = (axes or {}).get(fn)
    if dim != (1 if channels is None else channels):
        return None
    total = int(shape[dim])
    sizes = getattr(fn, '_saved_split_sizes', None)
    if sizes is not None:
        return [int(s) for s in sizes]
    step = int(getattr(fn, '_saved_split_size', 0) or 0)
    if step <= 0:
        return None
    return [min(step, total - o) for o in range(0, total, step)]


def split_pieces(fn: Any, axes: Optional[Dict[Any, Optional[int]]] = None) -> Optional[List[Tuple[int, int]]]:
    """(offset, size) of every piece of a channel split (channel axis as in :func:`split_sizes`),
    None for any other node."""
    if fn is None or fn.name() not in ('SplitBackward0', 'SplitWithSizesBackward0'):
        return None
    sizes = split_sizes(fn, axes)
    return None if sizes is None else [(sum(sizes[:k]), size) for k, size in enumerate(sizes)]


class _ChannelPreserving(tp.pruner.function.BasePruningFunc):
    """torch-pruning's view of a registered channel gate: one node whose output channel j is its
    input channel j (same function for both sides), nothing inside to prune."""

    def prune_out_channels(self, layer, idxs):
        return layer

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer):
        return None

    def get_in_channels(self, layer):
        return None


class _KeptWhole(_ChannelPreserving):
    """torch-pruning's view of a module kept whole: one node whose input and output channels are
    not coupled through it (a different function for each side; both sides are fixed)."""

    def prune_in_channels(self, layer, idxs):
        return layer


_KEPT_WHOLE = _KeptWhole()


class TracedDependencyGraph(tp.DependencyGraph):
    """torch-pruning's graph, given the channel count of every concatenated tensor as soon as
    the graph is traced, before its own index-map pass would try (and, on DPN, fail) to infer
    them; our maps replace its concat / split maps afterwards (:func:`fix_concat_split_maps`)."""

    def __init__(self, cat_sizes: Callable[[Dict[Any, Optional[int]]], Dict[Any, List[int]]],
                 records: Callable[[], Dict[Any, Any]] = dict, owners: Callable[[], Dict[Any, Any]] = dict):
        super().__init__()
        self._read_cat_sizes = cat_sizes
        self._read_records = records
        self._read_owners = owners
        self.kept: Dict[torch.nn.Module, str] = {}   # module kept whole -> its name
        self._kept_outputs: Dict[torch.nn.Module, List[Any]] = {}
        self.cat_sizes: Dict[Any, List[int]] = {}   # CatBackward0 node -> channels of each input, once traced
        self.shuffles: List[ChannelShuffle] = []     # channel shuffles, once traced
        self.split_attention = SplitAttention()       # split-attention regions, once traced
        self.attention = Attention()                  # multi-head attention regions, once traced
        self.axes: Dict[Any, Optional[int]] = {}      # op -> channel axis of its output (:mod:`.layouts`)
        self.param_axes: Dict[Any, int] = {}          # parameter read with the tokens -> its channel axis
        self.channel_merges: Dict[Any, Tuple[int, int, bool]] = {}   # M positions folded into C channels
        self.token_mixing: Dict[Any, str] = {}        # Linear over the tokens: its output op -> module name

    def build_dependency(self, model, *args, gates: Sequence[type] = (), kept: Sequence[str] = (), **kwargs):
        """torch-pruning's ``build_dependency``; modules of the types in ``gates`` (channel gates)
        are traced as single channel-preserving nodes, the modules named in ``kept`` (kept whole)
        as single nodes whose input and output channels are fixed apart."""
        modules = dict(model.named_modules())
        self.kept = {modules[name]: name for name in kept}
        present = {type(m) for m in model.modules() if isinstance(m, tuple(gates))}
        with KeptOutputs(list(self.kept)) as noted:
            self._kept_outputs = noted.fns
            super().build_dependency(model, *args, customized_pruners={t: _ChannelPreserving() for t in present},
                                     **kwargs)
        return self

    def get_pruner_of_module(self, module):
        return _KEPT_WHOLE if module in self.kept else super().get_pruner_of_module(module)

    def is_out_channel_pruning_fn(self, fn) -> bool:
        return fn == _KEPT_WHOLE.prune_out_channels or super().is_out_channel_pruning_fn(fn)

    def is_in_channel_pruning_fn(self, fn) -> bool:
        return fn == _KEPT_WHOLE.prune_in_channels or super().is_in_channel_pruning_fn(fn)

    def _trace(self, *args, **kwargs):
        module2node = super()._trace(*args, **kwargs)
        make_kept_nodes(module2node, self._kept_outputs, self._read_owners(), self.model)
        records = self._read_records()
        self.shuffles = find_channel_shuffles(records)
        shuffled = {fn for s in self.shuffles for fn in s.fns}
        self.split_attention = find_split_attention(records, shuffled)
        params = {node.grad_fn: node.module for node in module2node.values() if isinstance(node.module, torch.nn.Parameter)}
        opaque = [n for n, m in self.model.named_modules() if type(m) in self.CUSTOMIZED_PRUNERS or m in self.kept]
        inside = {fn for fn, rec in records.items() if any(within(rec.module, n) for n in opaque)}
        self.attention = find_attention(records, channel_axes(records), params,
                                        shuffled | set(self.split_attention.channels) | inside)
        self.axes = channel_axes(records, self.attention.ends)
        self.param_axes = {**parameter_axes(records, self.axes, params), **self.attention.param_axes}
        self.cat_sizes = sizes = self._read_cat_sizes(self.axes)
        self.channel_merges = channel_merges(records, self.axes)
        self.token_mixing = token_mixing(records, self.axes)
        for node in module2node.values():   # a Linear over the tokens keeps every channel: not a layer to prune
            if node.grad_fn in self.token_mixing:
                node.module = tp.ops._ElementWiseOp(id(node.grad_fn), node.grad_fn.name())
        ours = shuffled | set(self.split_attention.channels) | set(self.attention.nodes) | set(self.channel_merges) | \
            set(self.token_mixing)
        for node in module2node.values():   # channel-preserving nodes that our maps connect (set_*_maps)
            if node.grad_fn in ours:
                node.type = tp.ops.OPTYPE.ELEMENTWISE
                node.enable_index_mapping = False
        for node in module2node.values():   # torch-pruning infers their channel counts, and can miss
            if node.type == tp.ops.OPTYPE.RESHAPE and _keeps_every_channel(node.grad_fn, records, self.axes):
                node.type = tp.ops.OPTYPE.ELEMENTWISE
        for node in module2node.values():
            if node.grad_fn in sizes:
                node.module.concat_sizes = list(sizes[node.grad_fn])
                node.enable_index_mapping = False
            elif along_other_axis(node.grad_fn, records, self.axes):
                # tokens concatenated / split / sliced: every channel stays where it is (torch-pruning
                # maps a slice of dim 1 as a channel slice whatever ``enable_index_mapping`` says)
                node.type = tp.ops.OPTYPE.ELEMENTWISE
                node.enable_index_mapping = False
        return module2node

    def nodes_by_grad_fn(self) -> Dict[Any, Any]:
        """Every traced node, by the autograd node it stands for."""
        return {node.grad_fn: node for node in self.module2node.values() if node.grad_fn is not None}


def along_other_axis(fn: Any, records: Dict[Any, Any], axes: Dict[Any, Optional[int]]) -> bool:
    """True for a concatenation / split / unbind / slice / select along a dim that is not the
    channel axis, where that axis is known (the tokens of (N, L, C))."""
    if fn is None or fn.name() not in ('CatBackward0', 'SplitBackward0', 'SplitWithSizesBackward0', 'UnbindBackward0',
                                       'SliceBackward0', 'SelectBackward0'):
        return False
    if fn.name() == 'CatBackward0':
        a, ndim = axes.get(fn), len(records[fn].out_shape) if fn in records else 0
    else:
        source = fn.next_functions[0][0]
        while source is not None and source not in records and source.name() == 'SliceBackward0':
            source = source.next_functions[0][0]   # ``x[:, ::2, ::2]``: the first slice is not recorded
        a, ndim = axes.get(source), len(getattr(fn, '_saved_self_sym_sizes', ()) or ())
    return a is not None and ndim > 0 and axis(fn._saved_dim, ndim) != a


def slice_range(fn: Any, channels: int = 1) -> Optional[Tuple[int, int]]:
    """(start, end) of a SliceBackward0 along the channel dim (``channels``) with step 1, clamped
    to the input; None for a slice of another dim."""
    shape = list(getattr(fn, '_saved_self_sym_sizes', ()) or ())
    if _channel_dim(getattr(fn, '_saved_dim', None), len(shape)) != channels or getattr(fn, '_saved_step', 1) != 1:
        return None
    total = int(shape[channels])
    start, end = int(getattr(fn, '_saved_start', 0) or 0), getattr(fn, '_saved_end', total)
    end = total if end is None else min(int(end), total)
    start = start + total if start < 0 else start
    end = end + total if end < 0 else end
    return max(0, min(start, total)), max(0, end)


def _keeps_every_channel(fn: Any, records: Dict[Any, Any], axes: Dict[Any, Optional[int]]) -> bool:
    """A reshape that leaves every channel where it is ((N, C, H, W) -> (N, C, H·W), a squeeze
    of (N, C, 1, 1), tokens regrouped around the channels): the identity on channel indices. Where
    the trace follows the channel axis (:mod:`.layouts`), its view keeps the axis whole."""
    record = records.get(fn)
    source = fn.next_functions[0][0] if fn.next_functions else None
    a = axes.get(through_clones(source, records))
    if record is not None and a is not None and record.in_shapes and len(record.in_shapes[0]) > a:
        b = axes.get(fn)   # a flatten of the channels with the dims after them (into a Linear) is not
        return b is not None and record.out_shape[b] == record.in_shapes[0][a]   # the identity: tp maps it
    sizes = getattr(fn, '_saved_self_sym_sizes', None) or (record.in_shapes[0] if record and record.in_shapes else None)
    if not sizes or record is None:
        return False
    return keeps_channels(sizes, record.out_shape) or drops_unit_dims(sizes, record.out_shape)


def channel_merges(records: Dict[Any, Any], axes: Dict[Any, Optional[int]]) -> Dict[Any, Tuple[int, int, bool]]:
    """Views folding M neighbouring positions into the channels (:func:`.layouts.merged_channels`,
    output channel m·C + c), and unfolds of k·k = M positions (output channel c·M + m): op -> (C, M,
    channel major)."""
    found = {}
    for fn, rec in records.items():
        source = through_clones(fn.next_functions[0][0], records) if fn.next_functions else None
        a = axes.get(source)
        if rec.func in UNFOLDS and a == 1 and axes.get(fn) == 1:
            found[fn] = (int(rec.in_shapes[0][1]), int(rec.out_shape[1]) // int(rec.in_shapes[0][1]), True)
        elif fn.name() in VIEW_NODES and a is not None and rec.in_shapes and len(rec.in_shapes[0]) == \
                len(records[source].out_shape):
            merged = merged_channels([int(n) for n in rec.in_shapes[0]], [int(n) for n in rec.out_shape], a)
            if merged is not None and axes.get(fn) == merged[0]:
                found[fn] = (int(rec.in_shapes[0][a]), merged[1], False)
    return found


def fix_concat_split_maps(dg: TracedDependencyGraph) -> None:
    """Replace torch-pruning's index maps at every channel concat and split of ``dg``, with
    the channel count of each concatenated tensor its trace recorded (``dg.cat_sizes``).
    Concats / splits along other dims are left to torch-pruning (and to the op checks, which
    refuse them).
    """
    cat_sizes = dg.cat_sizes
    node_of = dg.nodes_by_grad_fn()
    piece_offsets = {}
    for node in dg.module2node.values():
        pieces = split_pieces(node.grad_fn, dg.axes)
        if pieces is not None:
            node.enable_index_mapping = False
            piece_offsets[node.grad_fn] = pieces
    for split_fn, pieces in piece_offsets.items():
        split = node_of[split_fn]
        for consumer in set(split.outputs):
            if consumer.grad_fn in cat_sizes:
                continue   # mapped with the concatenation below
            used = {nr for f, nr in getattr(consumer.grad_fn, 'next_functions', ()) if f is split_fn}
            if not used or max(used) >= len(pieces):
                raise UnsupportedModelError(
                    f'cannot tell which pieces of a channel split {consumer.name or "an op"} reads')
            _couple(split, consumer, [(pieces[k][0], 0, pieces[k][1]) for k in sorted(used)])
    for fn, sizes in cat_sizes.items():
        cat = node_of.get(fn)
        if cat is None:
            continue
        cat.enable_index_mapping = False
        if len(sizes) != len(fn.next_functions):
            raise UnsupportedModelError('cannot read the pieces of a channel concatenation')
        ranges: Dict[Any, List[Tuple[int, int, int]]] = {}
        offset = 0
        for (src_fn, nr), size in zip(fn.next_functions, sizes):
            if src_fn is not None and type(src_fn).__name__ != 'AccumulateGrad':
                if src_fn not in node_of:
                    raise UnsupportedModelError('cannot follow an input of a channel concatenation')
                start = piece_offsets[src_fn][nr][0] if src_fn in piece_offsets else 0
                ranges.setdefault(node_of[src_fn], []).append((start, offset, size))
            offset += size
        for src, rs in ranges.items():
            _couple(src, cat, rs)


class _Fold:
    """torch-pruning index map through a sum over R branches of ``channels`` channels each: flat
    channel ``r·channels + c`` is channel ``c`` of the sum (``reverse``: every branch's ``c``);
    ``channel_major``: flat channel ``c·R + r`` (an unfold's k·k positions of each channel)."""

    def __init__(self, channels: int, branches: int, reverse: bool, channel_major: bool = False):
        self.channels, self.branches, self.reverse, self.major = channels, branches, reverse, channel_major

    def __call__(self, idxs: Sequence[_HybridIndex]) -> List[_HybridIndex]:
        if self.reverse and self.major:
            pairs = {(i.idx * self.branches + r, i.root_idx) for i in idxs for r in range(self.branches)}
        elif self.reverse:
            pairs = {(r * self.channels + i.idx, i.root_idx) for i in idxs for r in range(self.branches)}
        else:
            pairs = {(i.idx // self.branches if self.major else i.idx % self.channels, i.root_idx) for i in idxs}
        # sorted and without repeats: torch-pruning stops revisiting a node once the list recurs
        return [_HybridIndex(idx=j, root_idx=r) for j, r in sorted(pairs)]


def set_split_attention_maps(dg: TracedDependencyGraph) -> None:
    """The flat-channel maps of split attention (:mod:`.split_attention`): a stack on dim 1
    places tensor k at ``k·C``, a sum over the branches folds them; every other op of a region
    is the identity."""
    sa = dg.split_attention
    node_of = dg.nodes_by_grad_fn()
    for fn, channels in sa.stacks.items():
        ranges: Dict[Any, List[Tuple[int, int, int]]] = {}
        for k, (src_fn, _) in enumerate(fn.next_functions):
            if src_fn in node_of:
                ranges.setdefault(node_of[src_fn], []).append((0, k * channels, channels))
        for src, rs in ranges.items():
            _couple(src, node_of[fn], rs)
    for fn, channels in sa.folds.items():
        src_fn = fn.next_functions[0][0]
        if fn in node_of and src_fn in node_of:
            branches = int(fn._saved_self_sym_sizes[1])
            _set_maps(node_of[src_fn], node_of[fn], _Fold(channels, branches, reverse=False))
            _set_maps(node_of[fn], node_of[src_fn], _Fold(channels, branches, reverse=True))


class _Pairs:
    """torch-pruning index map through an edge of an attention region (:mod:`.heads`). The rows
    couple whole blocks (every channel of q's head with every output channel of the head); handed
    to torch-pruning in full, its closure per root channel would hold a whole head at every node of
    the region, so within each block it gets a matching that reaches every channel on both sides
    (the k-th source channel to the (k mod n)-th target and back), and the grouping ties the
    blocks with the full rows (:meth:`.coupling.ChannelGraphBuilder.attention_edges`)."""

    def __init__(self, rows: np.ndarray):
        targets: Dict[int, List[int]] = {}
        for i, j in rows.tolist():
            targets.setdefault(i, []).append(j)
        blocks: Dict[int, List[int]] = {}   # a block's sources all have the same targets
        for i, js in targets.items():
            blocks.setdefault(min(js), []).append(i)
        table: Dict[int, List[int]] = {}
        for sources in blocks.values():
            ts = sorted(targets[sources[0]])
            for k in range(max(len(sources), len(ts))):
                table.setdefault(sources[k % len(sources)], []).append(ts[k % len(ts)])
        # as arrays: the targets of source i are flat[start[i]:start[i + 1]]
        counts = np.zeros(max(table, default=-1) + 1, dtype=np.int64)
        for i, js in table.items():
            counts[i] = len(js)
        self.start = np.concatenate([[0], np.cumsum(counts)])
        self.flat = np.zeros(int(self.start[-1]), dtype=np.int64)
        for i, js in table.items():
            self.flat[self.start[i]:self.start[i + 1]] = js

    def __call__(self, idxs: Sequence[_HybridIndex]) -> List[_HybridIndex]:
        pairs = np.fromiter(chain.from_iterable(idxs), dtype=np.int64, count=2 * len(idxs)).reshape(-1, 2)
        src, root = pairs[:, 0], pairs[:, 1]
        known = src < len(self.start) - 1
        src, root = src[known], root[known]
        counts = self.start[src + 1] - self.start[src]
        which = np.repeat(np.arange(len(src)), counts)   # every (source, target) pair
        offsets = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts, counts)
        targets, roots = self.flat[self.start[src][which] + offsets], root[which]
        span = int(roots.max()) + 1 if len(roots) else 1
        keys = np.unique(targets * span + roots)   # sorted by (target, root), without repeats
        return list(map(_HybridIndex, (keys // span).tolist(), (keys % span).tolist()))


def set_attention_maps(dg: TracedDependencyGraph) -> None:
    """The head maps of every attention region (:mod:`.heads`) on the edges that are not the identity."""
    node_of = dg.nodes_by_grad_fn()
    for (src_fn, dst_fn), rows in dg.attention.maps.items():
        src, dst = node_of.get(src_fn), node_of.get(dst_fn)
        if src is None or dst is None:
            raise UnsupportedModelError('cannot follow the heads of an attention region through the traced graph')
        _set_maps(src, dst, _Pairs(rows))
        _set_maps(dst, src, _Pairs(rows[:, ::-1]))


def set_merge_maps(dg: TracedDependencyGraph) -> None:
    """The maps of every view or unfold folding M positions into C channels: input channel c is
    output channels m·C + c (c·M + m for an unfold), the M copies of the channel, and back."""
    node_of = dg.nodes_by_grad_fn()
    for fn, (channels, copies, major) in dg.channel_merges.items():
        view = node_of.get(fn)
        for src in (view.inputs if view is not None else ()):
            _set_maps(src, view, _Fold(channels, copies, reverse=True, channel_major=major))
            _set_maps(view, src, _Fold(channels, copies, reverse=False, channel_major=major))


def set_shuffle_maps(dg: TracedDependencyGraph) -> None:
    """The permutation of every channel shuffle (:mod:`.shuffle`) on the edges into its first view,
    both directions."""
    node_of = dg.nodes_by_grad_fn()
    for s in dg.shuffles:
        view = node_of.get(s.first)
        for src in (view.inputs if view is not None else ()):
            _set_maps(src, view, ShufflePermutation(s, reverse=False))
            _set_maps(view, src, ShufflePermutation(s, reverse=True))

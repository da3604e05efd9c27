"""Groups of coupled channels, built on torch-pruning's DependencyGraph.

torch-pruning tells which channel *slots* (one output or input channel of one layer or op)
must be removed together. We union those slots into **units** (the smallest removable
piece: one channel, one conv group of a group conv, or the r² channels that a PixelShuffle
folds into one), and units into **groups** (one latent vector each). On top of the library
we add what it gets wrong: whole-group coupling of group convs, PixelShuffle index mapping,
and an allow-list of channel-preserving ops so that anything else fails closed.
"""
from __future__ import annotations

import dataclasses
import math
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch_pruning._helpers import _HybridIndex
from torch_pruning.dependency.index_mapping import _FlattenIndexMapping

from .errors import UnsupportedModelError
from .index_maps import TracedDependencyGraph, fix_concat_split_maps, slice_range, split_pieces
from .tracing import ForwardFn, OpRecord, default_forward, record_ops

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
Segment = Tuple[int, int, int]   # (group index or -1 for fixed slots, channels per unit, units or slots)
SPLIT_FUNCS = ('split', 'chunk', 'split_with_sizes', 'tensor_split', 'narrow', 'unbind', 'getitem')
# modules computing ``x * gate(x)`` whose parameters do not depend on the channel count (ECA's
# 1-D conv over the channel axis): one channel-preserving op to the grouping, left as they are by
# resizing; they mix neighbouring channels, so the probe compares the rest with them removed
CHANNEL_GATES: List[type] = []
GATE_STAND_INS: Dict[type, Callable[[nn.Module], nn.Module]] = {}
SEPARABLE_GATES: List[type] = []


def register_channel_gate(module_type: type, stand_in: Optional[Callable[[nn.Module], nn.Module]] = None,
                          separable: bool = False) -> None:
    """Treat ``module_type`` as a channel gate: a module whose output channel j belongs to its
    input channel j and whose only parameters are per-channel vectors (resized with the
    channels) or independent of the channel count (ECA's conv over the channel axis). The probe
    replaces it by ``stand_in(module)`` (default: the identity), a channel-separable map, in
    both networks it compares; a ``separable`` gate (channel j of its output depends on channel
    j of its input alone, InstanceNorm) is compared as it is. The timm adapter registers ECA,
    CECA and GRN."""
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f'a channel gate must be an nn.Module subclass, got {module_type!r}')
    if module_type not in CHANNEL_GATES:
        CHANNEL_GATES.append(module_type)
    if stand_in is not None:
        GATE_STAND_INS[module_type] = stand_in
    if separable and module_type not in SEPARABLE_GATES:
        SEPARABLE_GATES.append(module_type)


# InstanceNorm: per-sample, per-channel statistics (a batch norm over a reshaped input inside)
register_channel_gate(nn.modules.instancenorm._InstanceNorm, separable=True)


# the autograd ops of nn.Linear on an input of more than two dims (its features stay last)
_LINEAR_ON_ND = ('AddmmBackward0', 'MmBackward0', 'ViewBackward0', 'UnsafeViewBackward0', 'ReshapeAliasBackward0',
                 'AddBackward0', 'TBackward0', 'MatmulBackward0')
# norms whose statistics run over the channels: resizable, but pruning changes what they compute
CHANNEL_NORM_TYPES = (nn.LayerNorm, nn.GroupNorm)
RESIZABLE_TYPES = CONV_TYPES + (nn.Linear, nn.modules.batchnorm._BatchNorm, nn.PReLU) + CHANNEL_NORM_TYPES

# grad_fn names of ops that keep every channel where it is (checked further below).
_CHANNEL_PRESERVING = re.compile(
    r'^(Add|Sub|Mul|Div|Relu|Hardtanh|LeakyRelu|Elu|Gelu|Silu|Sigmoid|Hardsigmoid|Hardswish|'
    r'Tanh|Mish|Softplus|Clamp|ClampMin|ClampMax|Neg|Abs|Exp|Pow|Sqrt|Rsqrt|Clone|Alias|'
    r'NativeDropout|Dropout|FeatureDropout|MaxPool[123]DWithIndices|AvgPool[123]D|'
    r'AdaptiveAvgPool[123]D|AdaptiveMaxPool[123]D|UpsampleNearest[123]D|UpsampleBilinear2D|'
    r'UpsampleBicubic2D|ReflectionPad[123]D|ReplicationPad[123]D|ToCopy|Prelu|Threshold|Where|'
    r'Maximum|Minimum|Fmax|Fmin)'
    r'(Backward\d*)$')


@dataclass
class Dim:
    """One channel dimension of a layer ('in' or 'out') or of an op's output tensor."""

    key: str
    kind: str
    size: int
    offset: int
    module: Optional[Union[nn.Module, nn.Parameter]] = None   # the layer, or a per-channel parameter


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


def build_channel_graph(model: nn.Module, example_inputs: Any, forward_fn: Optional[ForwardFn] = None,
                        ignored_layers: Sequence[str] = (), timeout_s: float = 120.0) -> ChannelGraph:
    """Trace ``model`` once and return its channel groups.

    Raises :class:`UnsupportedModelError` naming the module for ops that move channels in
    a way we do not model (channel padding, shuffle, permute/transpose, slicing, unknown
    custom ops) and when grouping exceeds ``timeout_s``. The model's train/eval state is kept.
    """
    forward_fn = forward_fn or default_forward
    was_training = {m: m.training for m in model.modules()}
    try:
        with _time_limit(timeout_s, model):
            dg, trace, outputs = _build_dependency_graph(model, example_inputs, forward_fn)
            graph = _ChannelGraphBuilder(model, dg, trace, outputs, ignored_layers).build()
    finally:
        for m, mode in was_training.items():
            m.training = mode
    return graph


def _build_dependency_graph(model, example_inputs, forward_fn):
    outputs: List[torch.Tensor] = []
    with record_ops(model) as trace:
        def traced_forward(m, x):
            out = forward_fn(m, x)
            outputs.extend(t for t in tp.utils.flatten_as_list(out) if isinstance(t, torch.Tensor))
            return out
        try:
            with torch.enable_grad():
                dg = TracedDependencyGraph(lambda: _concat_sizes(trace)).build_dependency(
                    model, example_inputs, forward_fn=traced_forward, verbose=False, gates=CHANNEL_GATES)
        except UnsupportedModelError:
            raise
        except Exception as e:
            if not outputs:   # the forward pass itself failed: the caller's error, as it is
                raise
            raise UnsupportedModelError(
                f'torch-pruning cannot follow the channels{_where(e, trace)} ({type(e).__name__}: {e}); '
                'reshapes across channels (a channel shuffle) and channel slices are not supported') from e
    fix_concat_split_maps(dg)
    if not outputs or all(o.grad_fn is None for o in outputs):
        raise UnsupportedModelError('the model output does not depend on any parameter; '
                                    'nothing to shrink')
    return dg, trace, outputs


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


def _segments(items) -> List[np.ndarray]:
    """For every item, the segment of each of its root channels: root channels of one
    torch-pruning group that exactly the same items hold share a segment id."""
    by_gid: Dict[int, List[int]] = {}
    for k, item in enumerate(items):
        by_gid.setdefault(item[5], []).append(k)
    segment: List[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(items)
    for gid, members in by_gid.items():
        size = max(int(items[k][4].max()) + 1 if len(items[k][4]) else 0 for k in members)
        holders: List[set] = [set() for _ in range(size)]
        for k in members:
            for r in items[k][4]:
                holders[int(r)].add(k)
        ids: Dict[frozenset, int] = {}
        seg_of_root = np.asarray([ids.setdefault(frozenset(h), len(ids)) for h in holders], dtype=np.int64)
        for k in members:
            segment[k] = seg_of_root[items[k][4]] if len(items[k][4]) else np.empty(0, dtype=np.int64)
    return segment


def _concat_sizes(trace) -> Dict[Any, List[int]]:
    """Channel count of every tensor concatenated along dim 1, per CatBackward0 node."""
    sizes = {}
    for fn, rec in trace.records.items():
        if type(fn).__name__ == 'CatBackward0' and rec.in_shapes:
            ndim = len(rec.out_shape)
            dim = getattr(fn, '_saved_dim', None)
            if ndim > 1 and dim is not None and dim % ndim == 1:
                sizes[fn] = [shape[1] if len(shape) == ndim else 0 for shape in rec.in_shapes]
    return sizes


def _where(error: BaseException, trace) -> str:
    """' at <op> in <module>' for the graph node torch-pruning was mapping when it failed."""
    tb, node = error.__traceback__, None
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get('node')
        node = candidate if hasattr(candidate, 'grad_fn') else node
        tb = tb.tb_next
    if node is None:
        return ''
    record = trace.records.get(node.grad_fn)
    owner = trace.owners.get(node.grad_fn, (record.module if record else '', None))[0]
    op = record.func if record else type(node.grad_fn).__name__.removesuffix('Backward0')
    return f' at {op!r} in {owner or "the top-level forward"!r}'


class _ChannelGraphBuilder:
    def __init__(self, model, dg, trace, outputs, ignored_layers):
        self.model = model
        self.dg = dg
        self.records: Dict[Any, OpRecord] = trace.records
        self.owners = trace.owners
        self.outputs = outputs
        self.ignored = tuple(ignored_layers)
        self.names = {m: n for n, m in model.named_modules()}
        self.param_names = {p: n for n, p in model.named_parameters()}
        self.gate_names = [n for m, n in self.names.items() if isinstance(m, tuple(CHANNEL_GATES))]
        self.split_nodes = [(node, split_pieces(node.grad_fn)) for node in dg.module2node.values()
                            if split_pieces(node.grad_fn) is not None]   # channel splits: (node, (offset, size)s)
        for name in self.ignored:
            if name not in {n for n in self.names.values()}:
                raise UnsupportedModelError(f'ignored layer {name!r} is not a module of the model')
        self.node_key: Dict[Any, str] = {}
        self.pixel_shuffles: List[Tuple[Any, int]] = []
        self.dims: Dict[Tuple[str, str], Dim] = {}
        self.n_slots = 0

    # -- nodes -------------------------------------------------------------------------
    def key_of(self, node) -> str:
        if node not in self.node_key:
            if isinstance(node.module, nn.Module) and node.module in self.names:
                self.node_key[node] = self.names[node.module]
            elif isinstance(node.module, nn.Parameter) and node.module in self.param_names:
                self.node_key[node] = self.param_names[node.module]
            else:
                self.node_key[node] = f'<op{len(self.node_key)}:{node.grad_fn.name() if node.grad_fn else "?"}>'
        return self.node_key[node]

    def split_hint(self) -> str:
        """'; likely cause: ...' naming the first op that splits the channels into pieces, if any."""
        for rec in self.records.values():
            if (rec.func in SPLIT_FUNCS and rec.in_shapes and len(rec.in_shapes[0]) > 1 and len(rec.out_shape) > 1
                    and rec.in_shapes[0][1] != rec.out_shape[1]):
                return (f"; likely cause: the model splits its channels into pieces ({rec.func!r} in "
                        f"'{rec.module or 'the top-level forward'}') in a way the grouping cannot follow")
        return ''

    def where(self, node) -> str:
        rec = self.records.get(node.grad_fn)
        if rec is not None and rec.module:
            return f"module '{rec.module}' ({type(rec.module_obj).__name__})"
        owner = self.owners.get(node.grad_fn)
        if owner is not None and owner[0]:
            return f"module '{owner[0]}' ({type(owner[1]).__name__})"
        for other in list(node.inputs) + list(node.outputs):
            if isinstance(other.module, nn.Module) and other.module in self.names:
                return f"the op next to module '{self.names[other.module]}'"
        return 'the model'

    def add_dim(self, key, kind, size, module=None) -> Dim:
        dim = self.dims.get((key, kind))
        if dim is None:
            dim = Dim(key, kind, int(size), self.n_slots, module)
            self.dims[(key, kind)] = dim
            self.n_slots += int(size)
        return dim

    # -- checks -------------------------------------------------------------------------
    def check_ops_and_map_pixel_shuffle(self) -> None:
        for node in list(self.dg.module2node.values()):
            if isinstance(node.module, nn.Module) and node.module in self.names:
                continue
            if isinstance(node.module, (nn.Parameter, torch.Tensor)):
                if node.module not in self.param_names or channel_axis(node.module) is None:
                    raise UnsupportedModelError(
                        f'a bare nn.Parameter is used in {self.where(node)}; only standard layers (Conv, '
                        'Linear, BatchNorm, LayerNorm, GroupNorm, PReLU) and per-channel parameters such as a '
                        'layer scale can be widened and pruned')
                continue
            if isinstance(node.module, tp.ops._OutputOp) and node.grad_fn is None:
                continue
            self.check_op(node)

    def inside_gate(self, fn) -> bool:
        """True for an op a registered channel gate's forward runs."""
        owner = self.owners.get(fn, ('', None))[0]
        return any(within(owner, g) for g in self.gate_names)

    def check_op(self, node) -> None:
        fn = node.grad_fn
        name = fn.name() if fn is not None else 'unknown'
        if self.inside_gate(fn):
            return
        rec = self.records.get(fn)
        nd = len(rec.in_shapes[0]) if rec is not None and rec.in_shapes else None

        def refuse(what):
            raise UnsupportedModelError(
                f'{what} ({name}) in {self.where(node)}: LW-DNA cannot widen or prune through an op '
                'that moves channels; use a 1x1-conv shortcut / standard layers, or keep this '
                'part of the model out of the graph')

        def channel_dim(d, ndim):
            if d is None or ndim is None:
                return None
            return d % ndim if d < 0 else d

        if isinstance(self.owners.get(fn, ('', None))[1], nn.Linear) and name in _LINEAR_ON_ND:
            return   # nn.Linear on an (N, ..., C) input: flattened to 2-D around a matmul over C
        if name == 'PixelShuffleBackward0':
            self.map_pixel_shuffle(node, rec)
        elif _CHANNEL_PRESERVING.match(name):
            if name.startswith('Prelu') and isinstance(rec, OpRecord) and rec.module_obj is not None:
                return
        elif name in ('NativeBatchNormBackward0', 'CudnnBatchNormBackward0'):
            if rec is None or not isinstance(rec.module_obj, nn.modules.batchnorm._BatchNorm):
                refuse('a functional batch norm outside a BatchNorm layer')
        elif name in ('NativeLayerNormBackward0', 'NativeGroupNormBackward0'):
            owner = self.owners.get(fn, ('', None))[1]
            if not isinstance(owner, CHANNEL_NORM_TYPES) or norm_channels(owner) is None:
                refuse('a layer / group norm that is not a LayerNorm over the channels or a GroupNorm layer')
        elif name == 'PermuteBackward0' and tuple(getattr(fn, '_saved_dims', ())) in ((0, 2, 3, 1), (0, 3, 1, 2)):
            pass   # NCHW <-> NHWC: a channels-last region (LayerNorm / Linear over the last dim)
        elif name in ('MeanBackward1', 'SumBackward1', 'AmaxBackward0'):
            sizes = getattr(fn, '_saved_self_sym_sizes', None)
            dims = getattr(fn, '_saved_dim', None) or ()
            nd = len(sizes) if sizes is not None else nd
            if any(channel_dim(d, nd) in (1, None) for d in dims):
                refuse('a reduction over the channel dimension')
        elif name in ('MeanBackward0', 'SumBackward0'):
            refuse('a reduction over all dimensions')
        elif name in ('CatBackward0', 'SplitBackward0', 'SplitWithSizesBackward0', 'UnbindBackward0'):
            nd = nd if name != 'CatBackward0' else (len(rec.out_shape) if rec else None)
            if name != 'CatBackward0':
                nd = len(getattr(fn, '_saved_self_sym_sizes', ())) or nd
            if channel_dim(getattr(fn, '_saved_dim', None), nd) != 1:
                refuse('a concatenation/split along a dimension other than channels')
        elif name in ('ViewBackward0', 'ReshapeAliasBackward0', 'UnsafeViewBackward0', 'SqueezeBackward0',
                      'SqueezeBackward1', 'SqueezeBackward2', 'UnsqueezeBackward0', 'ExpandBackward0'):
            if _reads_parameters_only(fn):
                return   # a layer reshaping its own weight (F.prelu views the PReLU weight)
            if name == 'UnsqueezeBackward0' and isinstance(getattr(fn, '_saved_dim', None), int) \
                    and fn._saved_dim >= 2:
                return   # a new axis after the channels (``s[:, :, None, None]``)
            sizes = tuple(getattr(fn, '_saved_self_sym_sizes', ()) or (rec.in_shapes[0] if rec and rec.in_shapes else ()))
            if rec is not None and sizes and _flattens_channels(sizes, rec.out_shape):
                return   # (N, C, H, W) -> (N, C·H·W): channel c owns inputs c·H·W ... (c+1)·H·W - 1
            if rec is None or not sizes or not _keeps_channels(sizes, rec.out_shape):
                refuse('a reshape that moves the channel dimension (e.g. a channel shuffle)')
        elif name == 'ConstantPadNdBackward0':
            pad = list(getattr(fn, '_saved_pad', ()))
            ndim = nd if nd is not None else 4
            touched = [i // 2 for i, p in enumerate(pad) if p != 0]
            if any(ndim - 1 - t <= 1 for t in touched):
                refuse('padding of the channel dimension (a zero-pad shortcut)')
        elif name == 'TBackward0':
            if not _reads_parameters_only(fn):
                refuse('a transpose of a feature tensor')
        elif name in ('PermuteBackward0', 'TransposeBackward0', 'TransposeBackward1'):
            refuse('a permute/transpose involving the channel dimension')
        elif name == 'SliceBackward0':
            sizes = getattr(fn, '_saved_self_sym_sizes', ())
            if channel_dim(getattr(fn, '_saved_dim', None), len(sizes) or nd) == 1 and slice_range(fn) is None:
                refuse('a strided slice of the channel dimension')
        elif name == 'AsStridedBackward1' and rec is not None and 'pool' in rec.func and rec.in_shapes \
                and tuple(rec.out_shape[:2]) == tuple(rec.in_shapes[0][:2]):
            pass   # a pooling of a channels-last tensor restoring its memory layout
        elif name == 'AsStridedBackward0':   # the view an in-place op on a view leaves behind
            size = tuple(getattr(fn, '_saved_size', ()))
            base = _written_shape(fn.next_functions[0][0]) if fn.next_functions else None
            if fn._saved_storage_offset != 0 or base != size or \
                    tuple(fn._saved_stride) != tuple(torch.empty(size, device='meta').stride()):
                refuse('an in-place op on a strided view of part of a tensor')
        elif name == 'torch::autograd::CopySlices':
            written = [self.records[f].out_shape for f, _ in fn.next_functions[1:] if f in self.records]
            if _written_shape(fn) is None or any(shape != _written_shape(fn) for shape in written):
                refuse('an in-place op on a view of part of the channels (e.g. x[:, :c] += y)')
        elif name == 'IndexBackward0':
            refuse('an index (gather) of channels')
        else:
            refuse('an op whose channel behaviour is not modelled')

    def map_pixel_shuffle(self, node, rec) -> None:
        """Couple input channel c·r²+k of a PixelShuffle with its output channel c."""
        if rec is None or not rec.in_shapes or len(rec.in_shapes[0]) < 3:
            raise UnsupportedModelError(f'cannot read the shapes of the PixelShuffle in {self.where(node)}')
        stride = rec.in_shapes[0][1] // rec.out_shape[1]
        self.pixel_shuffles.append((node, stride))
        for src in node.inputs:
            for dep in src.dependencies:
                if dep.target is node:
                    dep.index_mapping[0] = _FlattenIndexMapping(stride=stride, reverse=True)
            for dep in node.dependencies:
                if dep.target is src:
                    dep.index_mapping[0] = _FlattenIndexMapping(stride=stride, reverse=False)

    # -- build --------------------------------------------------------------------------
    def build(self) -> ChannelGraph:
        self.check_ops_and_map_pixel_shuffle()
        modules = {n: m for n, m in self.model.named_modules()}
        # every layer dim exists, so uncovered slots (the network input) are fixed units
        for name, m in modules.items():
            if isinstance(m, CONV_TYPES + (nn.Linear,)):
                self.add_dim(name, 'out', m.out_channels if isinstance(m, CONV_TYPES) else m.out_features, m)
                self.add_dim(name, 'in', m.in_channels if isinstance(m, CONV_TYPES) else m.in_features, m)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                self.add_dim(name, 'out', m.num_features, m)
            elif isinstance(m, CHANNEL_NORM_TYPES) and norm_channels(m) is not None:
                self.add_dim(name, 'out', norm_channels(m), m)
        for node in self.dg.module2node.values():   # per-channel parameters (a layer scale)
            if isinstance(node.module, nn.Parameter) and node.module in self.param_names:
                self.add_dim(self.param_names[node.module], 'out', node.module.shape[channel_axis(node.module)],
                             node.module)

        items = []  # (node, kind, idxs, root node, root idxs, tp group id)
        unsupported: Dict[int, str] = {}
        ignored: Dict[int, str] = {}
        for gid, group in enumerate(self.all_groups()):
            root = group[0].dep.target
            for it in group:
                node = it.dep.target
                kind = 'out' if self.dg.is_out_channel_pruning_fn(it.dep.handler) else 'in'
                items.append((node, kind, np.asarray(it.idxs, dtype=np.int64), root,
                              np.asarray(it.root_idxs, dtype=np.int64), gid))
                mod = node.module
                if isinstance(mod, nn.Module) and mod in self.names:
                    name = self.names[mod]
                    if isinstance(mod, tuple(CHANNEL_GATES)):
                        pass
                    elif not isinstance(mod, RESIZABLE_TYPES) or isinstance(mod, nn.modules.conv._ConvTransposeNd):
                        unsupported.setdefault(gid, f'{type(mod).__name__} {name!r} cannot be resized')
                    if any(within(name, i) for i in self.ignored):
                        ignored.setdefault(gid, f'ignored layer {name!r}')

        extents: Dict[Any, int] = {}
        for node, kind, idxs, root, ridx, gid in items:
            extents[(node, kind)] = max(extents.get((node, kind), 0), int(idxs.max()) + 1 if len(idxs) else 0)
        for (node, kind), extent in extents.items():
            self.dim_for(node, kind, extent)
        gate_a, gate_b = self.gate_parameter_edges()
        a, b = [], []
        for node, kind, idxs, root, ridx, gid in items:
            a.append(self.dims[(self.key_of(node), kind)].offset + idxs)
            b.append(self.dims[(self.key_of(root), 'out')].offset + ridx)
        covered = np.zeros(self.n_slots, dtype=bool)
        for arr in a + b:
            covered[arr] = True
        da, db = self.dependency_edges()
        a, b = a + da + gate_a, b + db + gate_b
        ga, gb = self.group_conv_edges(modules)
        pa, pb = self.pixel_shuffle_edges()
        sa, sb = self.equal_split_edges()
        a, b = np.concatenate(a + ga + pa + sa), np.concatenate(b + gb + pb + sb)
        n_units, slot_unit = connected_components(
            coo_matrix((np.ones(len(a)), (a, b)), shape=(self.n_slots, self.n_slots)).tocsr(), directed=False)
        unit_covered = np.zeros(n_units, dtype=bool)
        unit_covered[slot_unit[covered]] = True

        # groups: units linked by one segment of one torch-pruning group (group convs already
        # merged units); a segment is the root channels that the same members hold, so the
        # pieces of a channel split are segments of their own
        segment = _segments(items)
        ua, ub = [], []
        first_unit: Dict[Tuple[int, int], int] = {}
        for k, (node, kind, idxs, root, ridx, gid) in enumerate(items):
            units = slot_unit[self.dims[(self.key_of(node), kind)].offset + idxs]
            for seg in np.unique(segment[k]):
                mine = units[segment[k] == seg]
                f = first_unit.setdefault((gid, int(seg)), int(mine[0]))
                ua.append(np.full(len(mine), f)); ub.append(mine)
        n_comp, unit_comp = connected_components(
            coo_matrix((np.ones(sum(map(len, ua))), (np.concatenate(ua), np.concatenate(ub))),
                       shape=(n_units, n_units)).tocsr(), directed=False)
        reasons: Dict[int, str] = {}
        for node, kind, idxs, root, ridx, gid in items:
            comp = unit_comp[slot_unit[self.dims[(self.key_of(node), kind)].offset + idxs[0]]]
            for table in (unsupported, ignored):
                if gid in table:
                    reasons.setdefault(comp, table[gid])
        return self.assemble(modules, slot_unit, unit_covered, unit_comp, reasons)

    def dim_for(self, node, kind, extent: int) -> Dim:
        """The dim of a graph node; ``extent`` is the largest channel index tp uses + 1."""
        key = self.key_of(node)
        if (key, kind) in self.dims:
            dim = self.dims[(key, kind)]
            if extent > dim.size:
                raise UnsupportedModelError(f'channel index out of range at {key!r}; '
                                            f'{self.where(node)} changes channel counts in an unmodelled way'
                                            f'{self.split_hint()}')
            return dim
        rec = self.records.get(node.grad_fn)
        pieces = split_pieces(node.grad_fn)
        if pieces is not None:
            size = max(extent, sum(n for _, n in pieces))   # a split's channels: its whole input
        else:
            size = max(extent, rec.out_shape[1] if rec is not None and len(rec.out_shape) > 1 else 0)
        module = node.module if isinstance(node.module, nn.Module) and node.module in self.names else None
        return self.add_dim(key, kind, size, module)

    def gate_parameter_edges(self):
        """A channel gate's per-channel parameters (GRN's weight and bias) follow its channels."""
        a, b = [], []
        for module, name in self.names.items():
            dim = self.dims.get((name, 'out')) if isinstance(module, tuple(CHANNEL_GATES)) else None
            if dim is None:
                continue
            if any(t is not None and t.dim() > 0 for t in module.buffers(recurse=False)):
                raise UnsupportedModelError(f"{type(module).__name__} '{name}' keeps per-channel buffers (running "
                                            'statistics); only its parameters can follow the channels')
            for pname, p in module.named_parameters(recurse=False):
                if channel_axis(p) is not None and p.shape[channel_axis(p)] == dim.size:
                    own = self.add_dim(f'{name}.{pname}', 'out', dim.size, p)
                    a.append(own.offset + np.arange(dim.size)); b.append(dim.offset + np.arange(dim.size))
        return a, b

    def dependency_edges(self):
        """Every coupling rule of torch-pruning's graph applied once, between nodes that have
        dims: its group traversal visits a node once, so a node reached along two routes (a
        tensor both concatenated and convolved depthwise, GhostNet) keeps only one route's
        coupling in the groups."""
        a, b = [], []
        for node in self.dg.module2node.values():
            for dep in node.dependencies:
                src = self.dims.get((self.key_of(dep.source), 'out' if self.dg.is_out_channel_pruning_fn(dep.trigger)
                                     else 'in'))
                dst = self.dims.get((self.key_of(dep.target), 'out' if self.dg.is_out_channel_pruning_fn(dep.handler)
                                     else 'in'))
                if src is None or dst is None:
                    continue
                idxs = [_HybridIndex(idx=i, root_idx=i) for i in range(src.size)]
                for mapping in dep.index_mapping:
                    if mapping is not None:
                        idxs = mapping(idxs)
                pairs = np.asarray([(h.root_idx, h.idx) for h in idxs if 0 <= h.idx < dst.size], dtype=np.int64)
                if len(pairs):
                    a.append(src.offset + pairs[:, 0]); b.append(dst.offset + pairs[:, 1])
        return a, b

    def all_groups(self):
        """torch-pruning's groups rooted at every conv / linear whose output channels no earlier
        group holds in full (its ``get_all_groups`` skips a layer once any group touches it,
        which loses the other pieces of a split layer)."""
        held: Dict[nn.Module, set] = {}
        for module, node in list(self.dg.module2node.items()):
            if not isinstance(module, CONV_TYPES + (nn.Linear,)):
                continue
            pruner = self.dg.get_pruner_of_module(module)
            channels = pruner.get_out_channels(module) if pruner is not None else None
            if channels is None or len(held.get(module, ())) >= channels:
                continue
            group = self.dg.get_pruning_group(module, pruner.prune_out_channels, list(range(channels)))
            for it in group:
                if self.dg.is_out_channel_pruning_fn(it.dep.handler):
                    held.setdefault(it.dep.target.module, set()).update(int(i) for i in it.idxs)
            yield group

    def equal_split_edges(self):
        """``split(x, size)`` / ``chunk``: the forward cuts equal pieces, so channel j of every
        piece is one unit (pieces keep the same channels and stay equal)."""
        a, b = [], []
        for node, pieces in self.split_nodes:
            sizes = [n for _, n in pieces]
            if node.grad_fn.name() != 'SplitBackward0' or len(sizes) < 2:
                continue
            if len(set(sizes)) != 1:
                raise UnsupportedModelError(f'a channel split into unequal pieces {sizes} in {self.where(node)}')
            dim = self.dims.get((self.key_of(node), 'out'))
            if dim is None:
                continue
            step = sizes[0]
            for k in range(1, len(sizes)):
                a.append(dim.offset + np.arange(step)); b.append(dim.offset + k * step + np.arange(step))
        return a, b

    def splits_of(self, graph: 'ChannelGraph') -> List[ChannelSplit]:
        """What the pieces of every channel split and slice are made of, in ``graph``'s groups."""
        out = []
        for node, pieces in self.split_nodes:
            dim = self.dims.get((self.key_of(node), 'out'))
            if dim is not None:
                out.append(self.pieces_of(graph, node.grad_fn, dim, dim.offset, [n for _, n in pieces],
                                          node.grad_fn.name() == 'SplitBackward0'))
        node_of = {n.grad_fn: n for n in self.dg.module2node.values() if n.grad_fn is not None}
        for fn, sizes in self.dg.cat_sizes.items():   # ``self.out_chs`` may be a concat's total
            dim = self.dims.get((self.key_of(node_of[fn]), 'out')) if fn in node_of else None
            if dim is not None and dim.size == sum(sizes):
                out.append(self.pieces_of(graph, fn, dim, dim.offset, sizes, False, concat=True))
        split_offsets = {node.grad_fn: [o for o, _ in pieces] for node, pieces in self.split_nodes}
        for fn in self.records:   # the trace's slices: an in-place op may leave one out of the graph
            if fn.name() != 'SliceBackward0' or slice_range(fn) is None:
                continue
            src_fn, nr = fn.next_functions[0]
            src = node_of.get(src_fn)
            dim = self.dims.get((self.key_of(src), 'out')) if src is not None else None
            if dim is None:
                continue
            base = split_offsets[src_fn][nr] if src_fn in split_offsets else 0
            total = int(fn._saved_self_sym_sizes[1])
            start, end = slice_range(fn)
            out.append(self.pieces_of(graph, fn, dim, dim.offset + base, [start, end - start, total - end], False))
        return out

    def pieces_of(self, graph: 'ChannelGraph', fn, dim: Dim, offset: int, sizes: Sequence[int],
                  equal: bool, concat: bool = False) -> ChannelSplit:
        owner = self.owners.get(fn, ('', None))[0]
        pieces = []
        for size in sizes:
            try:
                layout = dim_layout(graph, Dim(dim.key, 'out', size, offset))
            except UnsupportedModelError:
                raise UnsupportedModelError(f"a channel split or slice in '{owner or 'the top-level forward'}' "
                                            'cuts through a group of coupled channels; it cannot be resized') from None
            pieces.append(tuple((g, per_unit * count) for g, per_unit, count in layout))
            offset += size
        return ChannelSplit(owner, equal, tuple(pieces), concat)

    def pixel_shuffle_edges(self):
        """PixelShuffle: input channels c·r²..c·r²+r²-1 and output channel c are one unit."""
        pa, pb = [], []
        for node, stride in self.pixel_shuffles:
            out = self.dims.get((self.key_of(node), 'out'))
            for src in node.inputs:
                dim = self.dims.get((self.key_of(src), 'out'))
                if out is None or dim is None or dim.size != out.size * stride:
                    raise UnsupportedModelError(f'cannot map the channels of the PixelShuffle in {self.where(node)}')
                pa.append(dim.offset + np.arange(dim.size))
                pb.append(out.offset + np.arange(dim.size) // stride)
        return pa, pb

    def group_conv_edges(self, modules):
        """Group convs: a conv group's input and output channels form one unit. GroupNorm: the
        channels of one norm group form one unit (pruning keeps whole norm groups)."""
        ga, gb = [], []
        for name, m in modules.items():
            if isinstance(m, CONV_TYPES) and m.groups > 1:
                o, i = self.dims[(name, 'out')], self.dims[(name, 'in')]
                cout, cin = m.out_channels // m.groups, m.in_channels // m.groups
                heads = o.offset + np.arange(m.groups) * cout
                ga += [np.repeat(heads, cout), np.repeat(heads, cin)]
                gb += [o.offset + np.arange(m.out_channels), i.offset + np.arange(m.in_channels)]
            elif isinstance(m, nn.GroupNorm) and 1 < m.num_groups < m.num_channels:
                o, per = self.dims[(name, 'out')], m.num_channels // m.num_groups
                ga.append(np.repeat(o.offset + np.arange(m.num_groups) * per, per))
                gb.append(o.offset + np.arange(m.num_channels))
        return ga, gb

    def assemble(self, modules, slot_unit, unit_covered, unit_comp, reasons) -> ChannelGraph:
        # output units are fixed; the Linear that produces them is a classifier
        out_comps, classifiers = {}, []
        for out in self.outputs:
            for node in self.dg.module2node.values():
                if node.grad_fn is out.grad_fn and out.grad_fn is not None:
                    key = self.key_of(node)
                    if (key, 'out') in self.dims:
                        d = self.dims[(key, 'out')]
                        for c in np.unique(unit_comp[slot_unit[d.offset:d.offset + d.size]]):
                            out_comps[c] = 'network output'
                        if isinstance(node.module, nn.Linear):
                            classifiers.append(key)
        ordered_dims = sorted(self.dims.values(), key=lambda d: (d.kind != 'out', d.offset))
        comp_units: Dict[int, List[int]] = {}
        seen = np.zeros(len(unit_covered), dtype=bool)
        for d in ordered_dims:
            for u in slot_unit[d.offset:d.offset + d.size]:
                if unit_covered[u] and not seen[u]:
                    seen[u] = True
                    comp_units.setdefault(int(unit_comp[u]), []).append(int(u))
        unit_group = np.full(len(unit_covered), -1, dtype=np.int64)
        unit_local = np.full(len(unit_covered), -1, dtype=np.int64)
        groups: List[ChannelGroup] = []
        comp_of_group = []
        for comp, units in comp_units.items():
            g = len(groups)
            arr = np.asarray(units, dtype=np.int64)
            unit_group[arr] = g
            unit_local[arr] = np.arange(len(arr))
            groups.append(ChannelGroup(g, arr, 0, out_comps.get(comp) or reasons.get(comp, '')))
            comp_of_group.append(comp)
        members: Dict[int, List[str]] = {g.index: [] for g in groups}
        for d in ordered_dims:
            if d.module is None:
                continue
            units = slot_unit[d.offset:d.offset + d.size]
            for g in np.unique(unit_group[units]):
                if g >= 0:
                    members[int(g)].append(f'{d.key}:{d.kind}')
                    if groups[g].unit_channels == 0:
                        groups[g].unit_channels = int(np.sum(units == groups[g].units[0]))
        for g in groups:
            g.members = tuple(members[g.index])
        for name in classifiers:
            d = self.dims[(name, 'in')]
            for u in np.unique(slot_unit[d.offset:d.offset + d.size]):
                if unit_group[u] >= 0:
                    groups[unit_group[u]].feeds_classifier = True
        node_of = {node.grad_fn: node for node in self.dg.module2node.values() if node.grad_fn is not None}
        op_records = [(rec, self.key_of(node_of[fn]) if fn in node_of else None)
                      for fn, rec in self.records.items()]
        traced = {self.names[n.module] for n in self.dg.module2node.values()
                  if isinstance(n.module, nn.Module) and n.module in self.names}
        graph = ChannelGraph(self.model, self.dims, slot_unit, unit_group, unit_local, groups, modules,
                             sorted(set(classifiers)), traced, op_records)
        graph.splits = self.splits_of(graph)
        return graph


def channel_axis(param: torch.Tensor) -> Optional[int]:
    """The one axis of a per-channel parameter (shape (C,), (C, 1, 1), (1, C, 1, 1)); None if it
    has more than one non-unit axis."""
    axes = [i for i, n in enumerate(param.shape) if n != 1]
    return axes[0] if len(axes) == 1 else None


def norm_channels(module: nn.Module) -> Optional[int]:
    """Channels a LayerNorm over one (channel) dimension or a GroupNorm normalises; None for a
    LayerNorm over several dimensions."""
    if isinstance(module, nn.GroupNorm):
        return module.num_channels
    if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
        return module.normalized_shape[0]
    return None


def _written_shape(fn) -> Optional[Tuple[int, ...]]:
    """Shape of the tensor an in-place op on a view wrote into (a CopySlices node's base)."""
    meta = getattr(fn, '_input_metadata', None) if fn is not None else None
    return tuple(meta[0].shape) if meta else None


def _reads_parameters_only(fn) -> bool:
    """True if the autograd node's inputs are all leaf parameters (a weight reshape / transpose)."""
    return all(f is None or 'AccumulateGrad' in f.name() for f, _ in fn.next_functions)


def _flattens_channels(before: Sequence[int], after: Sequence[int]) -> bool:
    """True if a reshape flattens the channel dim and everything after it into one dim, channel major."""
    b = [int(s) for s in before]
    a = [int(s) for s in after]
    return len(b) >= 3 and len(a) == 2 and a[0] == b[0] and a[1] == math.prod(b[1:])


def _keeps_channels(before: Sequence[int], after: Sequence[int]) -> bool:
    """True if a reshape keeps the batch and channel dims and only regroups the dims after them."""
    b = [int(s) for s in before]
    a = [int(s) for s in after]
    if len(b) < 2 or len(a) < 2 or b[0] != a[0] or b[1] != a[1]:
        return False
    return math.prod(b[2:]) == math.prod(a[2:])


@contextmanager
def _time_limit(seconds: float, model: nn.Module) -> Iterator[None]:
    """Abort grouping after ``seconds`` (SIGALRM; only enforceable in the main thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, 'SIGALRM'):
        yield
        return

    def on_alarm(signum, frame):
        raise UnsupportedModelError(
            f'grouping the channels of {type(model).__name__} did not finish within {seconds:.0f} s; '
            'torch-pruning does not terminate on some channel-shuffling models (e.g. ShuffleNetV2)')
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

"""Channel slots coupled into units and units into groups: the union-find over torch-pruning's
DependencyGraph and the couplings it misses (group convs, GroupNorm groups, PixelShuffle,
equal splits, a channel gate's parameters)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch_pruning._helpers import _HybridIndex
from torch_pruning.dependency.index_mapping import _FlattenIndexMapping

from .channel_graph import ChannelGraph, ChannelGroup, ChannelSplit, Dim, dim_layout, within
from .errors import UnsupportedModelError
from .index_maps import slice_range, split_pieces
from .layer_types import CHANNEL_GATES, CHANNEL_NORM_TYPES, CONV_TYPES, RESIZABLE_TYPES, channel_axis, norm_channels
from .layouts import known_inputs
from .op_rules import check_layer_inputs, check_op, constant_operands
from .shuffle import shuffle_block_ties
from .tracing import OpRecord

SPLIT_FUNCS = ('split', 'chunk', 'split_with_sizes', 'tensor_split', 'narrow', 'unbind', 'getitem')


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


def _tied_across_groups(units: np.ndarray, groups: int) -> bool:
    """True if channel j of each of ``groups`` equal blocks of ``units`` is one unit, for every j."""
    blocks = units.reshape(groups, -1)
    return bool((blocks == blocks[:1]).all())


class ChannelGraphBuilder:
    """Builds the :class:`ChannelGraph` of a traced model."""

    def __init__(self, model, dg, trace, outputs, ignored_layers, kept: Dict[str, str]):
        self.model = model
        self.dg = dg
        self.records: Dict[Any, OpRecord] = trace.records
        self.owners = trace.owners
        self.outputs = outputs
        self.ignored = tuple(ignored_layers)
        self.names = {m: n for n, m in model.named_modules()}
        self.param_names = {p: n for n, p in model.named_parameters()}
        self.gate_names = [n for m, n in self.names.items() if isinstance(m, tuple(CHANNEL_GATES))]
        modules = dict(model.named_modules())
        self.kept = {n: (type(modules[n]).__name__, why)   # modules kept whole (kept_whole.py): name -> (class, why)
                     for n, why in kept.items()}
        self.opaque_names = self.gate_names + list(self.kept)   # traced as one node
        self.split_nodes = [(node, pieces) for node in dg.module2node.values()   # channel splits: (node, (offset, size)s)
                            if (pieces := split_pieces(node.grad_fn, dg.axes)) is not None]
        for name in self.ignored:
            if name not in {n for n in self.names.values()}:
                raise UnsupportedModelError(f'ignored layer {name!r} is not a module of the model')
        self.shuffle_fns = {fn for shuffle in dg.shuffles for fn in shuffle.fns}
        self.node_of = dg.nodes_by_grad_fn()
        self.split_offsets = {node.grad_fn: [o for o, _ in pieces] for node, pieces in self.split_nodes}
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

    def owner_name(self, node) -> Optional[str]:
        """The module whose forward ran the op of graph node ``node``, where the trace tells."""
        rec = self.records.get(node.grad_fn)
        return (rec.module if rec is not None else '') or self.owners.get(node.grad_fn, ('', None))[0] or None

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
        """Raise the first refusal of an op, with the refusals in other modules as its ``also``."""
        check_layer_inputs(self.records, self.dg.axes, self.owners, self.inside_gate)
        refused: Dict[Optional[str], UnsupportedModelError] = {}   # one per module
        for node in list(self.dg.module2node.values()):
            try:
                self.check_node(node)
            except UnsupportedModelError as error:
                refused.setdefault(error.module, error)
        if refused:
            first, *others = refused.values()
            first.also = others
            raise first

    def check_node(self, node) -> None:
        if isinstance(node.module, nn.Module) and node.module in self.names:
            return
        if isinstance(node.module, (nn.Parameter, torch.Tensor)):
            if node.module not in self.param_names or self.param_axis(node.module) is None:
                raise UnsupportedModelError(
                    f'a bare nn.Parameter is used in {self.where(node)}; only standard layers (Conv, '
                    'Linear, BatchNorm, LayerNorm, GroupNorm, PReLU) and per-channel parameters such as a '
                    'layer scale can be widened and pruned')
            return
        if isinstance(node.module, tp.ops._OutputOp) and node.grad_fn is None:
            return
        if node.grad_fn in self.shuffle_fns or node.grad_fn in self.dg.split_attention.channels or \
                node.grad_fn in self.dg.attention.nodes:
            return   # a channel shuffle (shuffle.py), split attention (split_attention.py), heads (heads.py)
        if not self.inside_gate(node.grad_fn) and \
                check_op(node, self.records, self.owners, self.where, self.dg.axes):
            self.map_pixel_shuffle(node, self.records.get(node.grad_fn))

    def param_axis(self, param: nn.Parameter) -> Optional[int]:
        """The channel axis of a parameter: its one non-unit axis, or the one the trace added it to
        the features along (a position embedding)."""
        return self.dg.param_axes.get(param, channel_axis(param))

    def inside_gate(self, fn) -> bool:
        """True for an op the forward of a registered channel gate or of an attention kept whole runs."""
        owner = self.owners.get(fn, ('', None))[0]
        return any(within(owner, g) for g in self.opaque_names)

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
                a = self.param_axis(node.module)
                self.add_dim(self.param_names[node.module], 'out', node.module.shape[a], node.module).axis = a

        items = []  # (node, kind, idxs, root node, root idxs, tp group id)
        unsupported: Dict[int, str] = {}
        ignored: Dict[int, str] = {}
        constants = constant_operands(self.records, self.dg.axes)
        for gid, group in enumerate(self.all_groups()):
            root = group[0].dep.target
            for it in group:
                node = it.dep.target
                kind = 'out' if self.dg.is_out_channel_pruning_fn(it.dep.handler) else 'in'
                items.append((node, kind, np.asarray(it.idxs, dtype=np.int64), root,
                              np.asarray(it.root_idxs, dtype=np.int64), gid))
                if node.grad_fn in constants and not self.inside_gate(node.grad_fn):
                    ignored.setdefault(gid, constants[node.grad_fn])
                mod = node.module
                if isinstance(mod, nn.Module) and mod in self.names:
                    name = self.names[mod]
                    if isinstance(mod, tuple(CHANNEL_GATES)) or name in self.kept:
                        pass   # a gate's channels are its input's; a module kept whole is fixed below
                    elif not isinstance(mod, RESIZABLE_TYPES) or isinstance(mod, nn.modules.conv._ConvTransposeNd):
                        unsupported.setdefault(gid, f'{type(mod).__name__} {name!r} cannot be resized')
                    if any(within(name, i) for i in self.ignored):
                        ignored.setdefault(gid, f'ignored layer {name!r}')
                    for owner in (o for o in self.kept if within(name, o)):
                        ignored.setdefault(gid, '{!r} ({}) {}'.format(owner, *self.kept[owner]))

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
        pa, pb = self.pixel_shuffle_edges()
        sa, sb = self.equal_split_edges()
        ha, hb = self.half_slice_edges()
        xa, xb = self.shuffle_edges()
        ta, tb = self.softmax_edges()
        aa, ab = self.attention_edges()
        a, b = np.concatenate(a + pa + sa + ha + xa + ta + aa), np.concatenate(b + pb + sb + hb + xb + tb + ab)
        ga, gb, by_position = self.group_conv_edges(modules, a, b)
        n_units, slot_unit = self.components(np.concatenate([a] + ga), np.concatenate([b] + gb))
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
        graph = self.assemble(modules, slot_unit, unit_covered, unit_comp, reasons)
        graph.convs_by_position = frozenset(by_position)
        graph.weights_computed = frozenset(self.weights_computed())
        graph.token_mixing = frozenset(self.dg.token_mixing.values())
        graph.kept_whole = {name: why for name, (_, why) in self.kept.items()}
        return graph

    def components(self, a: np.ndarray, b: np.ndarray) -> Tuple[int, np.ndarray]:
        """(count, slot -> unit) of the slots linked by edges ``a[i]``-``b[i]``."""
        return connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(self.n_slots, self.n_slots)).tocsr(),
                                    directed=False)

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
        pieces = split_pieces(node.grad_fn, self.dg.axes)
        if pieces is not None:
            size = max(extent, sum(n for _, n in pieces))   # a split's channels: its whole input
        elif node.grad_fn in self.dg.split_attention.channels:
            size = max(extent, self.dg.split_attention.channels[node.grad_fn])   # flat (branch, channel)
        elif node.grad_fn in self.dg.attention.nodes:
            size = max(extent, self.dg.attention.nodes[node.grad_fn].channels)   # flat (head, channel)
        else:
            c = self.dg.axes.get(node.grad_fn)
            c = 1 if c is None else c   # the channel axis where the trace follows it
            size = max(extent, rec.out_shape[c] if rec is not None and len(rec.out_shape) > c else 0)
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
                raise UnsupportedModelError(f'a channel split into unequal pieces {sizes} in {self.where(node)}',
                                            self.owner_name(node))
            dim = self.dims.get((self.key_of(node), 'out'))
            if dim is None:
                continue
            step = sizes[0]
            for k in range(1, len(sizes)):
                a.append(dim.offset + np.arange(step)); b.append(dim.offset + k * step + np.arange(step))
        return a, b

    def half_slice_edges(self):
        """``x[:, :C // 2]`` and ``x[:, C // 2:]`` of one tensor in a module that holds no attribute
        of that size (mmpretrain's CSP stages cut at ``x.shape[1] // 2``): channel j of both halves
        is one unit, so the halves stay equal and the cut stays in the middle of the pruned
        tensor. A boundary a module attribute holds (DPN's ``num_1x1_c``) follows the resize
        instead (:mod:`.attributes`)."""
        halves: Dict[Any, set] = {}
        for fn in self.records:
            c = self.slice_axis(fn)
            if c is None:
                continue
            total = int(fn._saved_self_sym_sizes[c])
            owner = self.owners.get(fn, ('', None))[1]
            if owner is not None and total // 2 in [v for v in vars(owner).values() if type(v) is int]:
                continue   # the module holds the boundary (DPN's num_1x1_c): resizing updates it
            if total % 2 == 0 and slice_range(fn, c) in ((0, total // 2), (total // 2, total)):
                halves.setdefault(fn.next_functions[0], set()).add(slice_range(fn, c))
        a, b = [], []
        for edge, ranges in halves.items():
            source = self.slice_source(edge) if len(ranges) == 2 else None
            if source is None:
                continue
            half = max(end for _, end in ranges) // 2
            base = source[0].offset + source[1]
            a.append(base + np.arange(half)); b.append(base + half + np.arange(half))
        return a, b

    def slice_axis(self, fn) -> Optional[int]:
        """The channel axis a SliceBackward0 cuts with step 1 (dim 1 where the trace does not tell),
        None for any other node or a slice of another dim (the tokens)."""
        if fn.name() != 'SliceBackward0':
            return None
        known = known_inputs(fn, self.records, self.dg.axes)
        c = known[0] if known else 1
        return c if slice_range(fn, c) is not None else None

    def slice_source(self, edge) -> Optional[Tuple[Dim, int]]:
        """(dim, offset in it) of the tensor a slice reads, given the slice's input ``edge``
        (node, output number): the producing node's output, or one piece of a split."""
        src_fn, nr = edge
        src = self.node_of.get(src_fn)
        dim = self.dims.get((self.key_of(src), 'out')) if src is not None else None
        if dim is None:
            return None
        return dim, self.split_offsets[src_fn][nr] if src_fn in self.split_offsets else 0

    def shuffle_edges(self):
        """A channel shuffle: channel j of each of its G input blocks is one unit (G consecutive
        channels of its output), see :mod:`.shuffle`."""
        a, b = [], []
        for shuffle in self.dg.shuffles:
            view = self.node_of.get(shuffle.first)
            dim = self.dims.get((self.key_of(view), 'out')) if view is not None else None
            if dim is None:
                continue
            for unit in shuffle_block_ties(shuffle):
                a.append(np.full(len(unit) - 1, dim.offset + unit[0])); b.append(dim.offset + np.asarray(unit[1:]))
        return a, b

    def splits_of(self, graph: 'ChannelGraph') -> List[ChannelSplit]:
        """What the pieces of every channel split and slice are made of, in ``graph``'s groups."""
        out = []
        for node, pieces in self.split_nodes:
            dim = self.dims.get((self.key_of(node), 'out'))
            if dim is not None:
                out.append(self.pieces_of(graph, node.grad_fn, dim, dim.offset, [n for _, n in pieces],
                                          node.grad_fn.name() == 'SplitBackward0'))
        for fn, sizes in self.dg.cat_sizes.items():   # ``self.out_chs`` may be a concat's total
            dim = self.dims.get((self.key_of(self.node_of[fn]), 'out')) if fn in self.node_of else None
            if dim is not None and dim.size == sum(sizes):
                out.append(self.pieces_of(graph, fn, dim, dim.offset, sizes, False, concat=True))
        for fn in self.records:   # the trace's slices: an in-place op may leave one out of the graph
            c = self.slice_axis(fn)
            source = self.slice_source(fn.next_functions[0]) if c is not None else None
            if source is None:
                continue
            dim, base = source
            total = int(fn._saved_self_sym_sizes[c])
            start, end = slice_range(fn, c)
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
                                            'cuts through a group of coupled channels; it cannot be resized',
                                            owner or None) from None
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

    def group_conv_edges(self, modules, a: np.ndarray, b: np.ndarray):
        """Group convs: a conv group's input and output channels form one unit, or, where the
        other edges (``a``-``b``) already tie output channel j of every conv group (split
        attention's radix conv), input channel j of every conv group does too and the conv
        keeps its groups (returned by name). GroupNorm: the channels of one norm group form
        one unit (pruning keeps whole norm groups)."""
        linked = self.components(a, b)[1]
        ga, gb, by_position = [], [], []
        for name, m in modules.items():
            if isinstance(m, CONV_TYPES) and m.groups > 1:
                o, i = self.dims[(name, 'out')], self.dims[(name, 'in')]
                cout, cin = m.out_channels // m.groups, m.in_channels // m.groups
                if cout > 1 and _tied_across_groups(linked[o.offset:o.offset + o.size], m.groups):
                    by_position.append(name)
                    ga.append(np.repeat(i.offset + np.arange(cin), m.groups - 1))
                    gb.append(i.offset + (np.arange(cin)[:, None] + cin * np.arange(1, m.groups)[None, :]).ravel())
                    continue
                heads = o.offset + np.arange(m.groups) * cout
                ga += [np.repeat(heads, cout), np.repeat(heads, cin)]
                gb += [o.offset + np.arange(m.out_channels), i.offset + np.arange(m.in_channels)]
            elif isinstance(m, nn.GroupNorm) and 1 < m.num_groups < m.num_channels:
                o, per = self.dims[(name, 'out')], m.num_channels // m.num_groups
                ga.append(np.repeat(o.offset + np.arange(m.num_groups) * per, per))
                gb.append(o.offset + np.arange(m.num_channels))
        return ga, gb, by_position

    def weights_computed(self) -> List[str]:
        """Convs whose forward computes their weight from the parameter (timm's StdConv2d
        standardises each filter over its input channels): their output depends on the input
        channel count by design. (A convolution's autograd inputs are input, weight, bias.)"""
        found = []
        for fn, rec in self.records.items():
            weight = fn.next_functions[1][0] if fn.name() == 'ConvolutionBackward0' else None
            if isinstance(rec.module_obj, CONV_TYPES) and weight is not None and 'AccumulateGrad' not in weight.name():
                found.append(rec.module)
        return found

    def softmax_edges(self):
        """A softmax over the branches of split attention: its channels along that axis are one unit."""
        a, b = [], []
        sa = self.dg.split_attention
        for fn in sa.softmax:
            dim = self.dims.get((self.key_of(self.node_of[fn]), 'out')) if fn in self.node_of else None
            for first, others in (sa.softmax_ties(fn) if dim is not None else ()):
                a.append(np.full(len(others), dim.offset + first)); b.append(dim.offset + np.asarray(others))
        return a, b

    def attention_edges(self):
        """The edges of an attention region that couple whole heads (q's channels of a head with
        every output channel of the head, :mod:`.heads`), in full."""
        a, b = [], []
        for (src_fn, dst_fn), rows in self.dg.attention.maps.items():
            src, dst = (self.dims.get((self.key_of(self.node_of[f]), 'out')) if f in self.node_of else None
                        for f in (src_fn, dst_fn))
            if src is not None and dst is not None:
                a.append(src.offset + rows[:, 0]); b.append(dst.offset + rows[:, 1])
        return a, b

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
        op_records = [(rec, self.key_of(self.node_of[fn]) if fn in self.node_of else None)
                      for fn, rec in self.records.items()]
        traced = {self.names[n.module] for n in self.dg.module2node.values()
                  if isinstance(n.module, nn.Module) and n.module in self.names}
        graph = ChannelGraph(self.model, self.dims, slot_unit, unit_group, unit_local, groups, modules,
                             sorted(set(classifiers)), traced, op_records)
        graph.splits = self.splits_of(graph)
        graph.shuffles = len(self.dg.shuffles)
        graph.heads = self.heads_of(graph)
        return graph

    def heads_of(self, graph: ChannelGraph) -> Dict[str, Tuple[Tuple[int, int], ...]]:
        """Attention module -> (group whose units are its heads, channels per head) per region."""
        found: Dict[str, List[Tuple[int, int]]] = {}
        for fn in self.dg.attention.ends:
            layout = self.dg.attention.nodes[fn]
            per_head = layout.factors[-1][1]
            dim = self.dims.get((self.key_of(self.node_of[fn]), 'out')) if fn in self.node_of else None
            groups = np.unique(graph.unit_group[graph.slot_unit[dim.offset:dim.offset + dim.size]]) if dim else []
            owner = self.records[fn].module
            if len(groups) != 1 or groups[0] < 0 or graph.groups[groups[0]].num_units * per_head != layout.channels:
                if len(groups) == 1 and groups[0] >= 0 and graph.groups[groups[0]].fixed:
                    continue   # heads kept as they are
                raise UnsupportedModelError(f"cannot tell the heads of the attention in '{owner}' apart: "
                                            'they are coupled with other channels', owner)
            found.setdefault(owner, []).append((int(groups[0]), per_head))
        return {name: tuple(regions) for name, regions in found.items()}

"""Multi-head attention: the channels of q, k and v split into heads, each head a unit.

A view that splits the channel axis of a tensor into several dims (``qkv(x).reshape(B, N, 3,
heads, head_dim)``) opens a region. Its tensors hold *flat* channels: the product of their
channel **factors** (one per split dim: 3, heads, head_dim), numbered in the order the split
made them, wherever permutes moved the dims. Inside a region:

- permutes, transposes and views that only move or regroup other dims move the factors;
- ``unbind`` / ``select`` on a factor's dim pins it (q, k, v are the pieces 0, 1, 2);
- element-wise ops, reductions over other dims (``F.normalize`` over the tokens) and a softmax
  over the tokens or within each head (channel attention's over head_dim) keep the factors;
- ``a @ b`` and ``scaled_dot_product_attention`` keep the factors of their batch dims (the
  heads), contract the factor of the dims they multiply (head_dim of q and k) and keep v's;
- a view merging the factors back into one dim, in their order (``x.transpose(1, 2).reshape(B,
  N, C)``), closes the region: its output is an ordinary tensor again.

Channel i of one region tensor is coupled with channel j of the next where they agree on every
factor both have, so q, k and v of one head and the head's output channels form one unit: a
removed head is removed whole, head_dim is kept (and so is the softmax scale). A region that
takes no such product, or runs any other op on its tensors, is not a region: its ops are left to
the op checks, which refuse them naming op and module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .layouts import RESHAPES, axis, axis_of, through_clones, view_axis
from .regions import Regions
from .reshapes import VIEW_NODES
from .tracing import OpRecord

Factor = Tuple[int, int, int]   # (id, size, tensor dim holding it)

_RESHAPES = RESHAPES + ('ExpandBackward0',)
_ELEMENTWISE = ('AddBackward0', 'SubBackward0', 'MulBackward0', 'DivBackward0', 'CloneBackward0', 'ToCopyBackward0',
                'NativeDropoutBackward0', 'MaskedFillBackward0', 'SigmoidBackward0', 'WhereBackward0',
                'AliasBackward0', 'ClampMinBackward0', 'ClampBackward1', 'ExpBackward0')
_REDUCTIONS = ('LinalgVectorNormBackward0', 'NormBackward1', 'MeanBackward1', 'SumBackward1', 'AmaxBackward0')


@dataclass(frozen=True)
class Layout:
    """The channel factors of a region tensor, in flat order (most significant first)."""

    factors: Tuple[Factor, ...]
    ndim: int

    @property
    def channels(self) -> int:
        return math.prod(size for _, size, _ in self.factors)

    @property
    def positions(self) -> Dict[int, int]:
        return {pos: k for k, (_, _, pos) in enumerate(self.factors)}

    def digits(self) -> np.ndarray:
        """(channels, factors): the value of every factor for each flat channel."""
        sizes = [size for _, size, _ in self.factors]
        return np.stack(np.unravel_index(np.arange(self.channels), sizes), axis=1) if sizes else \
            np.zeros((1, 0), dtype=np.int64)

    def moved(self, where: Dict[int, int], ndim: int) -> 'Layout':
        return Layout(tuple((i, s, where[p]) for i, s, p in self.factors), ndim)

    def without(self, pos: int) -> 'Layout':
        """The layout after the dim ``pos`` (not a factor's) is removed."""
        return Layout(tuple((i, s, p - (p > pos)) for i, s, p in self.factors), self.ndim - 1)


@dataclass
class Attention:
    """The autograd nodes of every attention region of a trace.

    ``nodes``: every node of a region -> layout of its graph dim (the flat channels of its output;
    for an ``unbind``, of its input; for the nodes autograd adds inside a product, of the tensor
    they carry). ``maps``: (source node, target node) -> (source channel, target channel) rows of
    every edge that is not the identity. ``ends``: the closing views -> channel axis of their
    output. ``param_axes``: per-head bias tables -> their head axis.
    """

    nodes: Dict[Any, Layout] = field(default_factory=dict)
    maps: Dict[Tuple[Any, Any], np.ndarray] = field(default_factory=dict)
    ends: Dict[Any, int] = field(default_factory=dict)
    param_axes: Dict[Any, int] = field(default_factory=dict)   # a per-head bias table -> its head axis

    @property
    def channels(self) -> Dict[Any, int]:
        """Flat channels of every region node's graph dim."""
        return {fn: layout.channels for fn, layout in self.nodes.items()}


class _Ids:
    """Factor ids: fresh ones, and ids found to name one factor (the heads of q from one Linear and
    of k and v from another, multiplied head by head)."""

    def __init__(self) -> None:
        self.count, self.parent, self.heads = 0, {}, set()

    def new(self, n: int) -> List[int]:
        self.count += n
        return list(range(self.count - n, self.count))

    def find(self, i: int) -> int:
        while self.parent.get(i, i) != i:
            i = self.parent[i]
        return i

    def unify(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def is_head(self, i: int) -> bool:
        """True for a factor some product kept as a batch dim (the heads)."""
        return self.find(i) in {self.find(h) for h in self.heads}


def pairs(a: Layout, b: Layout, pin: Optional[Tuple[int, Sequence[int]]] = None,
          ids: Optional[_Ids] = None) -> np.ndarray:
    """(channel of ``a``, channel of ``b``) rows that agree on every factor both have (ids as
    ``ids`` resolves them); ``pin`` (factor id, values) keeps the channels of ``a`` with that
    factor at one of ``values`` (the pieces of an unbind / select an edge carries)."""
    find = ids.find if ids is not None else (lambda i: i)
    a_digits, b_digits = a.digits(), b.digits()
    a_ids, b_ids = [find(i) for i, _, _ in a.factors], [find(i) for i, _, _ in b.factors]
    pin = (find(pin[0]), pin[1]) if pin is not None else None
    keep = np.ones(len(a_digits), dtype=bool)
    if pin is not None:
        keep &= np.isin(a_digits[:, a_ids.index(pin[0])], list(pin[1]))
    common = [i for i in a_ids if i in b_ids]
    sizes = [s for (_, s, _), i in zip(a.factors, a_ids) if i in common]

    def key(digits, ids):
        return np.ravel_multi_index(tuple(digits[:, ids.index(i)] for i in common), sizes) if common else \
            np.zeros(len(digits), dtype=np.int64)
    by_key: Dict[int, List[int]] = {}
    for j, k in enumerate(key(b_digits, b_ids).tolist()):
        by_key.setdefault(k, []).append(j)
    a_key = key(a_digits, a_ids)
    rows = [(i, j) for i in np.nonzero(keep)[0].tolist() for j in by_key.get(int(a_key[i]), ())]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def _is_identity(rows: np.ndarray, a: Layout, b: Layout) -> bool:
    return a.channels == b.channels == len(rows) and bool((rows[:, 0] == rows[:, 1]).all())


def _inputs(fn: Any, records: Dict[Any, OpRecord]) -> List[Tuple[Any, int, List[Any], Any]]:
    """(producer, output number, nodes autograd added on the way, node the path enters) of every
    input of a recorded op: the path back through unrecorded nodes (``matmul``'s expand, view and
    bmm) to a recorded op. A node with several inputs (the bmm) is where the paths join."""
    found = []

    def walk(node: Any, target: Any, chain: List[Any]) -> None:
        for f, nr in node.next_functions:
            if f is None or 'AccumulateGrad' in f.name():
                continue
            if f in records:
                found.append((f, nr, chain, target))
                continue
            ins = [g for g, _ in f.next_functions if g is not None and 'AccumulateGrad' not in g.name()]
            if len(ins) == 1:
                walk(f, target, [f] + chain)
            elif ins:
                found.append((None, 0, [f] + chain, target))   # a junction: it carries the consumer's channels
                walk(f, f, [])
    walk(fn, fn, [])
    return found


def find_attention(records: Dict[Any, OpRecord], axes: Dict[Any, Optional[int]],
                   params: Optional[Dict[Any, Any]] = None, exclude: Sequence[Any] = ()) -> Attention:
    """The attention regions of a trace, given every tensor's channel axis (:mod:`.layouts`) and
    the parameter of every AccumulateGrad node (``params``, for per-head bias tables); ops in
    ``exclude`` (a channel shuffle's, split attention's) are never part of one."""
    tensors: Dict[Any, Layout] = {}    # region op -> layout of its output tensor(s)
    nodes: Dict[Any, Layout] = {}
    pins: Dict[Any, Tuple[int, Optional[int]]] = {}
    ends: Dict[Any, int] = {}
    paths: Dict[Any, List[Tuple[Any, int, List[Any], Any]]] = {}
    regions = Regions()
    excluded = set(exclude)
    ids = _Ids()
    bias_params: Dict[Any, Tuple[int, int]] = {}
    direct: Dict[Any, Tuple[Any, Layout]] = {}   # op -> (AccumulateGrad, layout) of a per-head parameter it reads

    for fn, rec in records.items():
        if fn in excluded:
            continue
        edges = [e for e in _inputs(fn, records) if e[0] is not None]
        inside = [op for op, _, _, _ in edges if op in tensors]
        if not inside:
            found = _start(fn, rec, axes, edges, ids)
            if found is not None:
                regions.open(fn)
                tensors[fn], nodes[fn], paths[fn] = found, found, []
            continue
        rid = regions.join(fn, inside)
        paths[fn] = _inputs(fn, records)
        step, bias = _step(fn, rec, _arguments(fn, rec, edges, tensors), ids), None
        if step is None:
            bias = _bias_operand(fn, rec, _arguments(fn, rec, edges, tensors), inside, records, params or {},
                                 lambda f: through_clones(f, records) in tensors)
        if bias is not None:   # q·kᵀ plus a bias per head, read from a table with a head axis
            param, axis_, chain, leaf = bias
            for f, layout in chain:
                regions.of[f] = rid
                tensors[f], nodes[f], paths[f] = layout, layout, []
            bias_params[param] = (axis_, rid)
            if chain:
                step = _step(fn, rec, _arguments(fn, rec, edges, tensors), ids)
            else:   # the parameter itself, (heads, 1, 1): a learnt scale per head
                layout = next(x for x in _arguments(fn, rec, edges, tensors) if x is not None)
                step, direct[fn] = ('same', layout, layout, None), leaf
        if step is None:
            regions.bad.add(rid)
            continue
        kind, out, node, pin = step
        nodes[fn] = node
        if pin is not None:
            pins[fn] = pin
        if kind == 'end':
            ends[fn] = out
            continue
        tensors[fn] = out
        regions.useful.update({rid} if kind == 'product' else ())
    keep = regions.kept_ops()
    found = Attention(param_axes={p: a for p, (a, rid) in bias_params.items() if regions.kept(rid)})
    edges: Dict[Tuple[Any, Any], Tuple[Layout, Layout, List[np.ndarray]]] = {}   # one edge may carry q, k and v
    for fn in keep:
        found.nodes[fn] = nodes[fn]
        for op, nr, chain, target in paths[fn]:
            if op is None:   # a junction inside the op: the op's own channels
                found.nodes.update({f: nodes[fn] for f in chain})
                continue
            carried = _output(tensors.get(op, nodes[op]), nr)
            found.nodes.update({f: carried for f in chain})
            unbind = _piece(pins.get(op), nr)
            select = (pins[fn][0], [pins[fn][1]]) if target is fn and isinstance(pins.get(fn, (0, None))[1], int) else None
            links = [(op, chain[0], nodes[op], carried, unbind), (chain[-1], target, carried, nodes[fn], select)] \
                if chain else [(op, target, nodes[op], nodes[fn], unbind or select)]
            for src, dst, a, b, pin in links:
                edges.setdefault((src, dst), (a, b, []))[2].append(pairs(a, b, pin, ids))
        if fn in direct:
            leaf, layout = direct[fn]
            edges.setdefault((leaf, fn), (layout, nodes[fn], []))[2].append(pairs(layout, nodes[fn], None, ids))
        if fn in ends:
            found.ends[fn] = ends[fn]
    for edge, (a, b, rows) in edges.items():
        merged = np.unique(np.concatenate(rows), axis=0)
        if not _is_identity(merged, a, b):
            found.maps[edge] = merged
    return found


def _output(layout: Any, nr: int) -> Optional[Layout]:
    """The layout of output ``nr`` of a region op (a split's pieces differ)."""
    return layout[nr] if isinstance(layout, list) else layout


def _piece(pin: Optional[Tuple[int, Any]], nr: int) -> Optional[Tuple[int, List[int]]]:
    """(factor id, its values) that output ``nr`` of an unbind (one value) or of a split along a
    factor (a range of values) carries; None for an op with one output."""
    if pin is None or (pin[1] is not None and not isinstance(pin[1], list)):
        return None
    if pin[1] is None:
        return pin[0], [nr]
    start, size = pin[1][nr]
    return pin[0], list(range(start, start + size))


def _arguments(fn: Any, rec: OpRecord, edges, tensors: Dict[Any, Any]) -> List[Optional[Layout]]:
    """The layouts of an op's inputs (None outside a region): in the order of its arguments for
    ``scaled_dot_product_attention`` (q, k, v, mask: its graph reaches them in another order), else
    in the order of the graph's edges."""
    if rec.func == 'scaled_dot_product_attention' and rec.in_edges:
        return [_output(tensors.get(op), nr) if op is not None else None for op, nr in rec.in_edges]
    return [_output(tensors.get(op), nr) for op, nr, _, _ in edges]


def _bias_operand(fn: Any, rec: OpRecord, inputs: List[Optional[Layout]], inside: List[Any],
                  records: Dict[Any, OpRecord], params: Dict[Any, Any], in_region: Callable[[Any], bool]):
    """:func:`_head_bias` of the operand added to (or scaling) q·kᵀ: the other operand of a sum or
    product with one region tensor, or the mask of ``scaled_dot_product_attention`` (aligned with
    q·kᵀ, whose heads are q's)."""
    if fn.name() in ('AddBackward0', 'SubBackward0', 'MulBackward0', 'DivBackward0') and len(inside) == 1:
        node = next((f for f, _ in fn.next_functions if f is not None and not in_region(f)), None)
        return _head_bias(node, len(rec.out_shape), next(x for x in inputs if x is not None), records, params)
    if rec.func == 'scaled_dot_product_attention' and len(inputs) == 4 and inputs[0] is not None and \
            inputs[3] is None and rec.in_edges[3][0] is not None:
        q = inputs[0]
        scores = Layout(tuple(f for f in q.factors if f[2] < q.ndim - 2), q.ndim)
        return _head_bias(rec.in_edges[3][0], q.ndim, scores, records, params)
    return None


def _head_bias(node: Any, out_ndim: int, layout: Layout, records: Dict[Any, OpRecord], params: Dict[Any, Any]):
    """(parameter, its head axis, [(op, layout)] of the ops computing a bias from it, (its
    AccumulateGrad node, layout)) where the bias (its last op ``node``, added to or multiplied with
    a region tensor of ``out_ndim`` dims and ``layout``) is one parameter or computed from one
    alone (an index into a relative position bias table, views, permutes) and carries one of the
    region's factors (the heads) where the region tensor has it; None otherwise."""
    chain: List[Any] = []
    while node is not None and 'AccumulateGrad' not in node.name():
        ins = [f for f, _ in node.next_functions if f is not None]
        if node not in records or len(ins) != 1:
            return None
        chain.insert(0, node)
        node = ins[0]
    param = params.get(node) if node is not None else None
    if param is None:
        return None
    for fid, size, pos in layout.factors:
        for start in (d for d in range(param.dim()) if param.shape[d] == size and size > 1):
            a, ndim, layouts = start, param.dim(), []
            for f in chain:
                a = axis_of(f, records[f], (a, ndim)) if a is not None else None
                ndim = len(records[f].out_shape)
                layouts.append((f, Layout(((fid, size, a),), ndim)) if a is not None else None)
            if a is not None and a + out_ndim - ndim == pos:
                return param, start, layouts, (node, Layout(((fid, size, start),), param.dim()))
    return None


def _start(fn: Any, rec: OpRecord, axes: Dict[Any, Optional[int]], edges, ids: _Ids) -> Optional[Layout]:
    """The layout of a view that splits the channel axis of its input into two or more dims."""
    if fn.name() not in VIEW_NODES or not rec.in_shapes or len(edges) != 1:
        return None
    a = axes.get(edges[0][0])
    before, out = [int(s) for s in rec.in_shapes[0]], [int(s) for s in rec.out_shape]
    if a is None or len(out) <= len(before) or math.prod(out[:a]) != math.prod(before[:a]):
        return None
    for k in range(a + 2, len(out) + 1):
        if math.prod(out[a:k]) == before[a]:
            if math.prod(out[k:]) != math.prod(before[a + 1:]):
                return None
            dims = list(range(a, k))   # a single head is a factor of size 1 (Twins' first stages)
            if sum(out[p] > 1 for p in dims) < 1:
                return None
            return Layout(tuple((i, out[p], p) for i, p in zip(ids.new(len(dims)), dims)), len(out))
        if math.prod(out[a:k]) > before[a]:
            return None
    return None


def _step(fn: Any, rec: OpRecord, inputs: List[Optional[Layout]], ids: _Ids):
    """(kind, output layout or channel axis, node layout, pin) of an op on region tensors, None if
    it is not one an attention region may run."""
    name, out = fn.name(), [int(s) for s in rec.out_shape]
    before = [int(s) for s in rec.in_shapes[0]] if rec.in_shapes else []
    layout = next((x for x in inputs if x is not None), None)
    if layout is None:
        return None
    if rec.func in ('matmul', 'bmm') and len(inputs) == 2 and len(rec.in_shapes) == 2:
        return _renamed(_product(inputs[0], inputs[1], rec.in_shapes[0], rec.in_shapes[1], len(out), ids), ids)
    if rec.func == 'scaled_dot_product_attention' and len(inputs) >= 3:
        return _renamed(_attention(inputs[:3], len(out), ids, inputs[3:], rec.in_shapes[3:]), ids)
    if any(x is not None and x != layout for x in inputs):
        aligned = [x if x is None or x.ndim == len(out) else   # a bias (H, N, N) added to (B, H, N, N)
                   Layout(tuple((i, s, p + len(out) - x.ndim) for i, s, p in x.factors), len(out)) for x in inputs]
        layout = next(x for x in aligned if x is not None and x.ndim == len(out))
        if name not in _ELEMENTWISE or any(x is not None and x != layout for x in aligned):
            return None
        inputs = aligned
    pos = layout.positions
    if name in ('PermuteBackward0', 'TransposeBackward0'):
        order = list(range(len(out)))
        if name == 'PermuteBackward0':
            order = [axis(d, len(out)) for d in fn._saved_dims]
        else:
            d0, d1 = axis(fn._saved_dim0, len(out)), axis(fn._saved_dim1, len(out))
            order[d0], order[d1] = order[d1], order[d0]
        moved = layout.moved({p: order.index(p) for p in pos}, len(out))
        return 'same', moved, moved, None
    if name in ('SelectBackward0', 'UnbindBackward0'):
        d = axis(fn._saved_dim, len(before))
        if d not in pos:
            return ('same', layout.without(d), layout.without(d), None) if name == 'SelectBackward0' else None
        fid = layout.factors[pos[d]][0]
        rest = Layout(tuple((i, s, p - (p > d)) for i, s, p in layout.factors if p != d), len(out))
        if name == 'UnbindBackward0':
            return 'same', rest, layout, (fid, None)
        return 'same', rest, rest, (fid, int(fn._saved_index))
    if name in ('SplitBackward0', 'SplitWithSizesBackward0'):   # q, k, v cut from each head's channels
        d = axis(fn._saved_dim, len(before))
        sizes = getattr(fn, '_saved_split_sizes', None) or \
            [min(fn._saved_split_size, before[d] - o) for o in range(0, before[d], fn._saved_split_size)]
        if d not in pos:
            return None
        fid = layout.factors[pos[d]][0]
        outs = [Layout(tuple((ids.new(1)[0], n, p) if i == fid else (i, s, p) for i, s, p in layout.factors),
                       layout.ndim) for n in sizes]
        return 'same', outs, layout, (fid, [(sum(sizes[:k]), n) for k, n in enumerate(sizes)])
    if name in _RESHAPES:
        where = {p: view_axis(before, out, p) for p in pos}
        if all(w is not None for w in where.values()) and len(set(where.values())) == len(where):
            moved = layout.moved(where, len(out))
            return 'same', moved, moved, None
        return _merge(layout, before, out)
    if name in ('SoftmaxBackward0', 'LogSoftmaxBackward0'):   # over the tokens, or within each head
        d = axis(fn._saved_dim, len(out))
        return None if d in pos and ids.is_head(layout.factors[pos[d]][0]) else ('same', layout, layout, None)
    if name in _REDUCTIONS:   # over dims that are not factors (F.normalize over the tokens)
        dims = getattr(fn, '_saved_dim', None)
        dims = sorted({axis(d, len(before)) for d in (dims if isinstance(dims, (tuple, list)) else [dims])}
                      if dims is not None else range(len(before)), reverse=True)
        if any(d in pos for d in dims):
            return None
        kept = layout
        if not getattr(fn, '_saved_keepdim', False):
            for d in dims:
                kept = kept.without(d)
        return 'same', kept, kept, None
    if name in _ELEMENTWISE and len(out) == layout.ndim and \
            sum(not _broadcasts(shape, out, pos) for shape in rec.in_shapes) <= sum(x is not None for x in inputs):
        return 'same', layout, layout, None
    return None


def _broadcasts(shape: Sequence[int], out: Sequence[int], pos: Dict[int, int]) -> bool:
    """True if a tensor of ``shape`` (a scale, a mask) is one value along every factor dim: not a
    region tensor, nor one that differs per head (a relative position bias)."""
    offset = len(out) - len(shape)
    return all(p - offset < 0 or shape[p - offset] == 1 for p in pos)


def _merge(layout: Layout, before: Sequence[int], out: Sequence[int]):
    """A view merging all the factors, in their order, into one dim: the region's end."""
    positions = [p for _, _, p in layout.factors]
    first = positions[0]
    if positions != list(range(first, first + len(positions))):
        return None
    span = [p for p in range(first, positions[-1] + 1)]
    if math.prod(out[:first]) != math.prod(before[:first]) or len(out) <= first or \
            out[first] != math.prod(before[p] for p in span) or \
            math.prod(out[first + 1:]) != math.prod(before[positions[-1] + 1:]):
        return None
    return 'end', first, layout, None


def _renamed(found, ids: _Ids):
    """A product's step, with a fresh id for every factor it keeps that has the id of one it
    contracts: v's head_dim comes from the same split as the head_dim q·kᵀ contracts, and must
    not be coupled with it channel by channel."""
    if found is None:
        return None
    out, contracted = found
    contracted = {ids.find(i) for i in contracted}
    out = Layout(tuple((ids.new(1)[0] if ids.find(i) in contracted else i, s, p) for i, s, p in out.factors),
                 out.ndim)
    return 'product', out, out, None


def _product(a: Optional[Layout], b: Optional[Layout], a_shape, b_shape, ndim: int, ids: _Ids):
    """``a @ b``: factors of the batch dims kept, ``a``'s rows and ``b``'s columns kept, the
    multiplied dim contracted (it must be a factor on both sides or on neither)."""
    na, nb = len(a_shape), len(b_shape)
    if na < 2 or nb < 2:
        return None
    fa = {p: f for f in (a.factors if a else ()) for p in [f[2]]}
    fb = {p: f for f in (b.factors if b else ()) for p in [f[2]]}
    if (na - 1 in fa) != (nb - 2 in fb):
        return None
    placed: Dict[int, Tuple[int, int]] = {}
    for factors, n, row in ((fa, na, True), (fb, nb, False)):
        for p, (i, s, _) in factors.items():
            if p == (n - 1 if row else n - 2):
                continue   # contracted
            where = ndim - 2 if p == n - 2 else ndim - 1 if p == n - 1 else p + ndim - n
            if where in placed:
                if placed[where][1] != s:
                    return None
                ids.unify(placed[where][0], i)   # one factor of both (the heads of q and of k)
                continue
            placed[where] = (i, s)
    ids.heads.update(i for where, (i, _) in placed.items() if where < ndim - 2)
    contracted = {fa[na - 1][0], fb[nb - 2][0]} if na - 1 in fa else set()
    return Layout(tuple((i, s, p) for p, (i, s) in sorted(placed.items())), ndim), contracted


def _attention(qkv: List[Optional[Layout]], ndim: int, ids: _Ids, mask: Sequence[Optional[Layout]] = (),
               mask_shape: Sequence[Sequence[int]] = ()):
    """``scaled_dot_product_attention(q, k, v, mask)``: q·kᵀ contracts head_dim, the result times v
    keeps v's head_dim; the heads (batch dims, one factor in q, k and v) are kept. A mask is one
    value along the heads, or a bias per head (the heads its only factor)."""
    q, k, v = qkv
    if q is None or k is None or v is None:
        return None
    batch = [f for f in q.factors if f[2] < ndim - 2]
    for other in (k, v):
        theirs = [f for f in other.factors if f[2] < ndim - 2]
        if [(s, p) for _, s, p in theirs] != [(s, p) for _, s, p in batch]:
            return None
        for (i, _, _), (j, _, _) in zip(batch, theirs):
            ids.unify(i, j)
    ids.heads.update(i for i, _, _ in batch)
    if any(f[2] == ndim - 2 for f in q.factors + k.factors + v.factors):
        return None
    if mask and mask[0] is None and not _broadcasts(mask_shape[0], [0] * ndim, {p: 0 for _, _, p in batch}):
        return None
    if mask and mask[0] is not None:
        theirs = [(i, s, p + ndim - mask[0].ndim) for i, s, p in mask[0].factors]
        if [(s, p) for _, s, p in theirs] != [(s, p) for _, s, p in batch]:
            return None
        for (i, _, _), (j, _, _) in zip(batch, theirs):
            ids.unify(i, j)
    contracted = {f[0] for f in q.factors + k.factors if f[2] == ndim - 1}
    return Layout(tuple(batch) + tuple(f for f in v.factors if f[2] == ndim - 1), ndim), contracted

"""Split attention (ResNeSt's ``SplitAttentionConv2d``, timm's ``SplitAttn`` and
``SelectiveKernel``): R branches of C channels, viewed as (N, R, C, ...) or stacked on dim 1,
weighted by a softmax over the branches and summed over them.

A tensor (N, d1, ..., dk, *spatial) of such a region holds d1·…·dk *flat* channels in memory
order, branch-major. Views that keep that order (a transpose that only moves size-1 dims
too) are the identity on flat channels, a stack on dim 1 is a concatenation, and the sum over
dim 1 folds flat channel ``r·C + c`` onto ``c``: channel c of every branch becomes one unit, so
the pruned branches keep the same channels and every view, which computes C from the tensor
at run time, cuts the pruned tensor where it cut the full one. A softmax over a branch axis
mixes the channels of one unit only. A region counts as split attention only if it sums or
takes a softmax over its branches and every op on its tensors is one of these; anything
else is left to the op checks (a channels-last reshape, a channel shuffle).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .layouts import axis, through_clones
from .regions import Regions
from .reshapes import VIEW_NODES
from .tracing import OpRecord

_ELEMENTWISE = ('MulBackward0', 'AddBackward0', 'SubBackward0', 'DivBackward0', 'SigmoidBackward0',
                'CloneBackward0', 'ToCopyBackward0')

Dims = Tuple[int, ...]


@dataclass
class SplitAttention:
    """The autograd nodes of every split-attention region of a trace."""

    channels: Dict[Any, int] = field(default_factory=dict)   # op -> flat channels of its output
    stacks: Dict[Any, int] = field(default_factory=dict)     # stack(dim=1) -> channels per stacked tensor
    folds: Dict[Any, int] = field(default_factory=dict)      # sum over the branches -> channels it keeps
    softmax: Dict[Any, Tuple[Dims, int]] = field(default_factory=dict)   # over a branch axis: (dims, axis)

    def softmax_ties(self, fn: Any) -> List[Tuple[int, List[int]]]:
        """(first, others): flat channels of one softmax that differ only along its axis."""
        dims, axis = self.softmax[fn]
        inner = math.prod(dims[axis + 1:])
        step = dims[axis] * inner
        return [(outer * step + i, [outer * step + j * inner + i for j in range(1, dims[axis])])
                for outer in range(math.prod(dims[:axis])) for i in range(inner)]


def find_split_attention(records: Dict[Any, OpRecord], exclude: Sequence[Any] = ()) -> SplitAttention:
    """The split-attention regions of a trace (ops in ``exclude``, a channel shuffle's, are never part of one)."""
    dims: Dict[Any, Dims] = {}        # region op -> channel dims of its output
    regions = Regions()
    stacks, folds, softmax = {}, {}, {}
    excluded = set(exclude)
    for fn, rec in records.items():
        if fn in excluded:
            continue
        inputs = [through_clones(f, records) for f, _ in fn.next_functions]
        inside = [f for f in inputs if len(dims.get(f, ())) >= 2]
        if not inside:
            found = _start(fn, rec)
            if found is None:
                continue
            regions.open(fn)
            dims[fn] = found
            if fn.name() == 'StackBackward0':
                stacks[fn] = found[1]
            continue
        rid = regions.join(fn, inside)
        out = _step(fn, rec, [dims[f] for f in inside])
        if out is None:
            regions.bad.add(rid)
            continue
        dims[fn], kind = out
        if kind == 'fold':
            folds[fn] = math.prod(dims[fn])
            regions.useful.add(rid)
        elif kind == 'softmax':
            softmax[fn] = (dims[inside[0]], axis(fn._saved_dim, len(rec.out_shape)) - 1)
            regions.useful.add(rid)
    keep = set(regions.kept_ops())
    return SplitAttention({fn: math.prod(d) for fn, d in dims.items() if fn in keep},
                          {fn: c for fn, c in stacks.items() if fn in keep},
                          {fn: c for fn, c in folds.items() if fn in keep},
                          {fn: s for fn, s in softmax.items() if fn in keep})


def _channel_dims(shape: Sequence[int], flat: int, spatial: int) -> Optional[Dims]:
    """The shortest leading dims of ``shape`` (batch left out) holding ``flat`` channels, the rest
    ``spatial`` positions; None if there are none."""
    for k in range(1, len(shape) + 1):
        if math.prod(shape[:k]) == flat and math.prod(shape[k:]) == spatial:
            return tuple(int(s) for s in shape[:k])
        if math.prod(shape[:k]) > flat:
            return None
    return None


def _start(fn: Any, rec: OpRecord) -> Optional[Dims]:
    """Channel dims of a tensor that opens a region: branches stacked on dim 1, or a view that
    splits the channels into two or more dims."""
    out = [int(s) for s in rec.out_shape]
    if fn.name() == 'StackBackward0':
        shapes = {tuple(s) for s in rec.in_shapes}
        if len(shapes) == 1 and len(out) >= 3 and axis(fn._saved_dim, len(out)) == 1:
            return tuple(out[1:3])
        return None
    if fn.name() not in VIEW_NODES or not rec.in_shapes or len(rec.in_shapes[0]) < 2:
        return None
    before = [int(s) for s in rec.in_shapes[0]]
    found = _channel_dims(out[1:], before[1], math.prod(before[2:])) if out[:1] == before[:1] else None
    return found if found is not None and sum(d > 1 for d in found) >= 2 else None


def _step(fn: Any, rec: OpRecord, inputs: List[Dims]) -> Optional[Tuple[Dims, str]]:
    """(channel dims of the output, kind) of an op on region tensors, None if it is not a
    split-attention op."""
    d = inputs[0]
    if any(other != d for other in inputs):
        return None
    k, out, name = len(d), [int(s) for s in rec.out_shape], fn.name()
    before = [int(s) for s in rec.in_shapes[0]] if rec.in_shapes else []
    if name in VIEW_NODES:
        found = _channel_dims(out[1:], math.prod(d), math.prod(before[k + 1:])) if out[:1] == before[:1] else None
        return (found, 'view') if found is not None else None
    if name in ('TransposeBackward0', 'PermuteBackward0'):
        order = list(range(len(out)))
        if name == 'TransposeBackward0':
            a, b = axis(fn._saved_dim0, len(out)), axis(fn._saved_dim1, len(out))
            order[a], order[b] = order[b], order[a]
        else:
            order = [axis(p, len(out)) for p in fn._saved_dims]
        moved = [i for i, p in enumerate(order) if p != i]
        sources = [p for p in order if before[p] > 1]   # the non-unit dims must keep their order
        if moved and (max(moved) > k or min(moved) < 1 or sources != sorted(sources)):
            return None
        return tuple(out[1:k + 1]), 'view'
    if name == 'SoftmaxBackward0':
        over = axis(fn._saved_dim, len(out))
        return (d, 'softmax') if 1 <= over <= k else (d, 'same')
    if name in ('SumBackward1', 'MeanBackward1'):
        over = {axis(a, len(before)) for a in fn._saved_dim}
        if over == {1} and name == 'SumBackward1' and not fn._saved_keepdim and k >= 2:
            return d[1:], 'fold'
        return (d, 'same') if min(over) > k else None
    if name in _ELEMENTWISE and tuple(out[1:k + 1]) == d and all(
            math.prod(s) == 1 or (len(s) == len(out) and tuple(s[1:k + 1]) == d) for s in rec.in_shapes):
        return d, 'same'
    return None



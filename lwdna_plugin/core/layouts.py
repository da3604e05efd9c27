"""Which dimension of every traced tensor holds the channels.

A conv writes its channels to dim 1, a Linear to the last dim; views, permutes, selections and
reductions move or keep that axis, element-wise ops keep it (right-aligned under broadcasting).
The op checks read it to tell a concatenation, slice, selection or mean over the *tokens* of a
channels-last (N, L, C) tensor, which keeps every channel, from one over the channels, and a
Linear over the tokens (MLP-Mixer) from one over the channels.
Unknown (None): a tensor whose channels a view split into several dims (attention heads,
:mod:`.heads`), a product of two feature tensors, a computation on weights alone.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .reshapes import VIEW_NODES
from .tracing import OpRecord

_CHANNELS_FIRST = ('conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d',
                   'batch_norm', 'group_norm', 'instance_norm')
# views, squeezes and unsqueezes: the channel axis moves where :func:`view_axis` finds it
RESHAPES = VIEW_NODES + ('SqueezeBackward0', 'SqueezeBackward1', 'SqueezeBackward2', 'UnsqueezeBackward0')
_REDUCTIONS = ('MeanBackward1', 'SumBackward1', 'AmaxBackward0', 'AminBackward0', 'MaxBackward0', 'MinBackward0',
               'StdBackward0', 'VarBackward0', 'VarMeanBackward0', 'StdMeanBackward0')
UNFOLDS = ('unfold', 'im2col')   # nn.Unfold: patches of k·k positions as channels
_NOT_FOLLOWED = ('MmBackward0', 'BmmBackward0', 'MatmulBackward0', 'TBackward0')


def axis(a: Any, ndim: int) -> int:
    """A saved dim (autograd keeps negative ones as unsigned 64-bit) as an index into ``ndim`` dims."""
    a = int(a)
    return (a - (1 << 64) if a >= 1 << 63 else a) % max(ndim, 1)


def through_clones(fn: Any, records: Dict[Any, OpRecord]) -> Any:
    """The recorded op behind the clones ``reshape`` / ``contiguous`` add of their own."""
    while fn is not None and fn not in records and fn.name() == 'CloneBackward0':
        fn = fn.next_functions[0][0]
    return fn


def channel_axes(records: Dict[Any, OpRecord], fixed: Optional[Dict[Any, int]] = None) -> Dict[Any, Optional[int]]:
    """The channel axis of the output of every recorded op (None where it is unknown); ``fixed``:
    ops whose axis is known otherwise (the view closing an attention region)."""
    axes: Dict[Any, Optional[int]] = {}
    for fn, rec in records.items():
        if fixed and fn in fixed:
            axes[fn] = fixed[fn]
            continue
        known = _known(fn.next_functions, records, axes)
        if not known or rec.func == 'linear':   # the input behind the nodes autograd adds inside
            known = _known(rec.in_edges[:1] if rec.func == 'linear' else rec.in_edges, records, axes) or known
        axes[fn] = axis_of(fn, rec, known[0] if known else None)
    return axes


def _known(edges, records: Dict[Any, OpRecord], axes: Dict[Any, Optional[int]]) -> List[Tuple[int, int]]:
    """(channel axis, ndim) of the recorded producers of ``edges`` that have one."""
    inputs = [through_clones(f, records) for f, _ in edges]
    return [(axes[f], len(records[f].out_shape)) for f in inputs if axes.get(f) is not None]


def axis_of(fn: Any, rec: OpRecord, source: Optional[Tuple[int, int]]) -> Optional[int]:
    """Output channel axis of one op, given (channel axis, ndim) of its first input that has one."""
    out, name = [int(s) for s in rec.out_shape], fn.name()
    if rec.func in _CHANNELS_FIRST:
        return 1 if len(out) > 1 else None
    if rec.func == 'linear':   # over the channels, or over another dim (tokens), keeping the channels
        return source[0] if source is not None and source[0] != source[1] - 1 else len(out) - 1
    if rec.func == 'layer_norm':
        return source[0] if source is not None else len(out) - 1
    if rec.func in UNFOLDS:   # (N, C, H, W) -> (N, C·k·k, L): each channel's k·k positions, channel major
        return 1 if source is not None and source[0] == 1 else None
    if source is None or name in _NOT_FOLLOWED or rec.func == 'scaled_dot_product_attention':
        return None
    a, ndim = source
    before = [int(s) for s in rec.in_shapes[0]] if rec.in_shapes else []
    if name == 'PermuteBackward0':
        dims = [axis(d, ndim) for d in fn._saved_dims]
        return dims.index(a) if a in dims else None
    if name == 'TransposeBackward0':
        d0, d1 = axis(fn._saved_dim0, ndim), axis(fn._saved_dim1, ndim)
        return d1 if a == d0 else d0 if a == d1 else a
    if name in RESHAPES:
        if len(before) != ndim:
            return None
        found = view_axis(before, out, a)
        merged = merged_channels(before, out, a) if found is None else None
        return merged[0] if merged is not None else found
    if name == 'IndexBackward0':   # x[..., idx, ...]: the indexed dims become the index's dims
        indices = list(getattr(fn, '_saved_indices', ()))
        dims = [d for d, i in enumerate(indices) if i is not None]
        if not dims or a in dims or dims != list(range(dims[0], dims[-1] + 1)):
            return None
        return a if a < dims[0] else a - len(dims) + indices[dims[0]].dim()
    if name == 'UnbindBackward0':
        d = axis(fn._saved_dim, ndim)
        return None if d == a else a - (d < a)
    if name == 'SelectBackward0':   # x[..., 0, 0, :] is one op of several selects (and slices): each drops a dim
        for node in reversed(index_chain(fn, ndim - len(out))):
            if node.name() == 'SelectBackward0':
                d = axis(node._saved_dim, ndim)
                if d == a:
                    return None
                a, ndim = a - (d < a), ndim - 1
        return a
    if name == 'StackBackward0':
        return a + (axis(fn._saved_dim, len(out)) <= a)
    if name in _REDUCTIONS:
        dims = getattr(fn, '_saved_dim', None)
        dims = [axis(d, ndim) for d in (dims if isinstance(dims, (tuple, list)) else [dims])] if dims is not None \
            else list(range(ndim))
        if a in dims:
            return None
        return a if getattr(fn, '_saved_keepdim', False) else a - sum(d < a for d in dims)
    if name in ('MeanBackward0', 'SumBackward0'):
        return None
    if name == 'RepeatBackward0':   # tiled along other dims (a batch of one position encoding)
        repeats = [int(r) for r in fn._saved_repeats]
        b = a + len(repeats) - ndim
        return b if repeats[b] == 1 else None
    if ndim > len(out):   # not element-wise (an op the rules above do not know)
        return None
    shifted = a + len(out) - ndim   # element-wise: inputs broadcast right-aligned
    return shifted if 0 <= shifted < len(out) else None


def index_chain(fn: Any, selects: int = 8) -> List[Any]:
    """The autograd nodes of one indexing op (``x[..., 0, 0, :]``), last first: ``fn`` and the
    select / slice nodes before it, up to ``selects`` selects in all."""
    chain, node = [fn], fn.next_functions[0][0]
    while sum(n.name() == 'SelectBackward0' for n in chain) < selects and node is not None and \
            node.name() in ('SelectBackward0', 'SliceBackward0'):
        chain.append(node)
        node = node.next_functions[0][0]
    return chain


def token_mixing(records: Dict[Any, OpRecord], axes: Dict[Any, Optional[int]]) -> Dict[Any, str]:
    """Linear layers applied along a dim that is not the channel axis (MLP-Mixer's token MLP on
    (N, C, L)): output op -> module name. Each mixes the tokens of every channel alike: channel j
    of its output is channel j of its input."""
    return {fn: rec.module for fn, rec in records.items()
            if rec.func == 'linear' and axes.get(fn) is not None and axes[fn] != len(rec.out_shape) - 1}


def view_axis(before: Sequence[int], after: Sequence[int], a: int) -> Optional[int]:
    """Where a view puts channel axis ``a``: the output dim of the same size after the same number
    of elements; a flatten of the channels with the dims after them, channel major, keeps it (the
    Linear reading it sees C·H·W features). None if the view splits or merges the channel dim."""
    outer = math.prod(before[:a])
    for b in range(len(after)):
        if math.prod(after[:b]) == outer and after[b] == before[a]:
            return b
        if math.prod(after[:b]) > outer:
            break
    if len(after) == a + 1 and math.prod(after[:a]) == outer and after[a] == math.prod(before[a:]):
        return a
    return None


def merged_channels(before: Sequence[int], after: Sequence[int], a: int) -> Optional[Tuple[int, int]]:
    """(output dim, M) where a view folds M neighbouring positions into the channels: the channel
    axis ``a`` and the dims before it merge into one, channels fastest ((B, H/2, W/2, 2, 2, C) ->
    (B, H/2, W/2, 4C): Swin's patch merging). Output channel m·C + c is input channel c."""
    if a != len(before) - 1 and math.prod(before[a + 1:]) != 1:
        return None
    for k in range(a - 1, -1, -1):
        inner = math.prod(before[k:a + 1])
        b = len([d for d in after]) - (len(before) - a)   # the dims after the channels stay last
        if 0 <= b < len(after) and after[b] == inner and math.prod(after[:b]) == math.prod(before[:k]) and \
                list(after[b + 1:]) == list(before[a + 1:]) and inner > before[a]:
            return b, inner // before[a]
        if inner > (after[b] if 0 <= b < len(after) else 0):
            return None
    return None


def parameter_axes(records: Dict[Any, OpRecord], axes: Dict[Any, Optional[int]],
                   params: Dict[Any, Any]) -> Dict[Any, int]:
    """The channel axis of parameters read element-wise with a feature tensor whose channel axis is
    known (a position embedding (1, L, C) added to tokens): parameter -> axis. ``params`` maps the
    AccumulateGrad node of every parameter to the parameter."""
    found: Dict[Any, int] = {}
    for fn, rec in records.items():
        a = axes.get(fn)
        if a is None or fn.name() not in ('AddBackward0', 'SubBackward0', 'MulBackward0', 'DivBackward0'):
            continue
        for f, _ in fn.next_functions:
            p = params.get(f)
            if p is None:
                continue
            pa = a - (len(rec.out_shape) - p.dim())
            if 0 <= pa < p.dim() and p.shape[pa] == rec.out_shape[a] and p.shape[pa] > 1:
                found.setdefault(p, pa)
    return found


def known_inputs(fn: Any, records: Dict[Any, OpRecord], axes: Dict[Any, Optional[int]]) -> List[int]:
    """Channel axes of the recorded inputs of ``fn`` that have one."""
    inputs = [through_clones(f, records) for f, _ in fn.next_functions]
    return [axes[f] for f in inputs if axes.get(f) is not None]

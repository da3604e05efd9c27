"""The allow-list of ops the grouping can follow, and the error naming any other op."""
from __future__ import annotations

import re
import sys
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn

from .errors import UnsupportedModelError
from .index_maps import slice_range
from .layer_types import CHANNEL_NORM_TYPES, RESIZABLE_TYPES, norm_channels
from .layouts import index_chain, known_inputs, through_clones
from .reshapes import drops_unit_dims, flattens_channels, keeps_channels, keeps_last_channels
from .tracing import OpRecord

# the autograd ops of nn.Linear on an input of more than two dims (its features stay last)
_LINEAR_ON_ND = ('AddmmBackward0', 'MmBackward0', 'ViewBackward0', 'UnsafeViewBackward0', 'ReshapeAliasBackward0',
                 'AddBackward0', 'TBackward0', 'MatmulBackward0')

# grad_fn names of ops that keep every channel where it is (checked further below).
_CHANNEL_PRESERVING = re.compile(
    r'^(Add|Sub|Mul|Div|Relu|Hardtanh|LeakyRelu|Elu|Gelu|Silu|Sigmoid|Hardsigmoid|Hardswish|'
    r'Tanh|Mish|Softplus|Clamp|ClampMin|ClampMax|Neg|Abs|Exp|Pow|Sqrt|Rsqrt|Clone|Alias|'
    r'NativeDropout|Dropout|FeatureDropout|MaxPool[123]DWithIndices|AvgPool[123]D|'
    r'AdaptiveAvgPool[123]D|AdaptiveMaxPool[123]D|UpsampleNearest[123]D|UpsampleBilinear2D|'
    r'UpsampleBicubic2D|ReflectionPad[123]D|ReplicationPad[123]D|ToCopy|Prelu|Threshold|Where|'
    r'Maximum|Minimum|Fmax|Fmin)'
    r'(Backward\d*)$')


def check_op(node, records: Dict[Any, OpRecord], owners: Dict[Any, Tuple[str, Optional[nn.Module]]],
             where: Callable[[Any], str], axes: Optional[Dict[Any, Optional[int]]] = None) -> bool:
    """Raise :class:`UnsupportedModelError` naming the op and module unless the channel
    behaviour of torch-pruning graph ``node``'s op is modelled; True for a PixelShuffle (whose
    channels the caller maps). ``axes``: the channel axis of every traced tensor
    (:mod:`.layouts`); where it is unknown the channels are taken to be dim 1."""
    fn = node.grad_fn
    name = fn.name() if fn is not None else 'unknown'
    rec = records.get(fn)
    nd = len(rec.in_shapes[0]) if rec is not None and rec.in_shapes else None
    axes = axes or {}
    known = known_inputs(fn, records, axes) if fn is not None else []
    c = known[0] if known else 1   # the channel axis of the op's input

    def refuse(what):
        raise UnsupportedModelError(
            f'{what} ({name}) in {where(node)}: LW-DNA cannot widen or prune through an op '
            'that moves channels; use a 1x1-conv shortcut / standard layers, or keep this '
            f'part of the model out of the graph{_adapter_hint(owners.get(fn, ("", None))[1])}',
            owners.get(fn, ('', None))[0] or None)

    def channel_dim(d, ndim):
        if d is None or ndim is None:
            return None
        return d % ndim if d < 0 else d

    if fn is not None and _from_parameters_only(fn, records):
        return False   # a computation on weights alone (CSRA's weight norm): no channel of the data moves
    if isinstance(owners.get(fn, ('', None))[1], nn.Linear) and name in _LINEAR_ON_ND:
        return False   # nn.Linear on an (N, ..., C) input: flattened to 2-D around a matmul over C
    if name == 'PixelShuffleBackward0':
        return True
    if rec is None and _pools_trailing_dims(owners.get(fn, ('', None))[1], records, axes):
        return False   # a node autograd adds inside a pooling layer (AdaptiveAvgPool1d's unsqueeze, mean)
    elif _CHANNEL_PRESERVING.match(name):
        if name.startswith('Prelu') and isinstance(rec, OpRecord) and rec.module_obj is not None:
            return False
    elif name in ('NativeBatchNormBackward0', 'CudnnBatchNormBackward0'):
        if rec is None or not isinstance(rec.module_obj, nn.modules.batchnorm._BatchNorm):
            refuse('a functional batch norm outside a BatchNorm layer')
    elif name in ('NativeLayerNormBackward0', 'NativeGroupNormBackward0'):
        owner = owners.get(fn, ('', None))[1]
        if not isinstance(owner, CHANNEL_NORM_TYPES) or norm_channels(owner) is None:
            refuse('a layer / group norm that is not a LayerNorm over the channels or a GroupNorm layer')
    elif name in ('PermuteBackward0', 'TransposeBackward0') and known and axes.get(fn) is not None:
        pass   # the channels move to a dim the trace follows (NCHW <-> NHWC, (N, C, L) <-> (N, L, C))
    elif name == 'PermuteBackward0' and tuple(getattr(fn, '_saved_dims', ())) in ((0, 2, 3, 1), (0, 3, 1, 2)):
        pass   # NCHW <-> NHWC: a channels-last region (LayerNorm / Linear over the last dim)
    elif (name == 'TransposeBackward0' and rec is not None and len(rec.out_shape) == 3 and
          sorted(d % 3 for d in (fn._saved_dim0, fn._saved_dim1)) == [1, 2]) or \
            (name == 'PermuteBackward0' and tuple(getattr(fn, '_saved_dims', ())) == (0, 2, 1)):
        pass   # (N, C, H·W) <-> (N, H·W, C): ``x.flatten(2).transpose(1, 2)`` into a channels-last region
    elif name in ('MeanBackward1', 'SumBackward1', 'AmaxBackward0'):
        sizes = getattr(fn, '_saved_self_sym_sizes', None)
        dims = getattr(fn, '_saved_dim', None) or ()
        nd = len(sizes) if sizes is not None else nd
        if any(channel_dim(d, nd) in (c, None) for d in dims):
            refuse('a reduction over the channel dimension')
    elif name in ('SoftmaxBackward0', 'LogSoftmaxBackward0'):
        if channel_dim(getattr(fn, '_saved_dim', None), nd or len(rec.out_shape) if rec else nd) in (c, None):
            refuse('a softmax over the channel dimension')
    elif name in ('MeanBackward0', 'SumBackward0'):
        refuse('a reduction over all dimensions')
    elif name in ('CatBackward0', 'SplitBackward0', 'SplitWithSizesBackward0', 'UnbindBackward0'):
        nd = nd if name != 'CatBackward0' else (len(rec.out_shape) if rec else None)
        if name != 'CatBackward0':
            nd = len(getattr(fn, '_saved_self_sym_sizes', ())) or nd
        if channel_dim(getattr(fn, '_saved_dim', None), nd) != c and not (known and axes.get(fn) is not None):
            refuse('a concatenation/split along a dimension other than channels')
    elif name == 'SelectBackward0':
        inner = fn not in records and any(axes.get(o.grad_fn) is not None and fn in index_chain(o.grad_fn)
                                          for o in node.outputs if o.grad_fn in records)   # of x[..., 0, 0, :]
        if axes.get(fn) is None and not inner:
            refuse('a selection of one channel (or of a dim the trace cannot follow the channels through)')
    elif name in ('ViewBackward0', 'ReshapeAliasBackward0', 'UnsafeViewBackward0', 'SqueezeBackward0',
                  'SqueezeBackward1', 'SqueezeBackward2', 'UnsqueezeBackward0', 'ExpandBackward0'):
        if _reads_parameters_only(fn):
            return False   # a layer reshaping its own weight (F.prelu views the PReLU weight)
        if known and rec is not None:   # the trace follows the channel axis (:func:`.layouts.view_axis`, ``merged_channels``)
            if axes.get(fn) is None:
                refuse('a reshape that moves the channel dimension (e.g. a channel shuffle)')
            return False
        if name == 'UnsqueezeBackward0' and isinstance(getattr(fn, '_saved_dim', None), int) \
                and fn._saved_dim >= 2:
            return False   # a new axis after the channels (``s[:, :, None, None]``)
        sizes = tuple(getattr(fn, '_saved_self_sym_sizes', ()) or (rec.in_shapes[0] if rec and rec.in_shapes else ()))
        if rec is not None and sizes and flattens_channels(sizes, rec.out_shape):
            return False   # (N, C, H, W) -> (N, C·H·W): channel c owns inputs c·H·W ... (c+1)·H·W - 1
        if rec is not None and sizes and drops_unit_dims(sizes, rec.out_shape):
            return False   # ``x.squeeze()`` / ``flatten(1)`` of (N, C, 1, 1): the channels stay in order
        if rec is not None and sizes and keeps_last_channels(sizes, rec.out_shape):
            return False   # a channels-last (N, H·W, C) <-> (N, H, W, C): the tokens regrouped, C stays last
        if rec is None or not sizes or not keeps_channels(sizes, rec.out_shape):
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
        if channel_dim(getattr(fn, '_saved_dim', None), len(sizes) or nd) == c and slice_range(fn, c) is None:
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
        written = [records[f].out_shape for f, _ in fn.next_functions[1:] if f in records]
        base = _written_shape(fn)
        if base is None or any(shape != base and not (known and _all_channels(shape, base, c)) for shape in written):
            refuse('an in-place op on a view of part of the channels (e.g. x[:, :c] += y)')
    elif name == 'RollBackward0':
        if not known or c in [channel_dim(d, nd) for d in getattr(fn, '_saved_dims', ())]:
            refuse('a roll of the channels')   # a roll of the tokens (Swin's shifted windows) keeps them
    elif name == 'IndexBackward0':
        refuse('an index (gather) of channels')
    elif name == 'RepeatBackward0':
        if not known or axes.get(fn) is None:
            refuse('a repeat of the channels')   # tiling other dims keeps them (:func:`.layouts.axis_of`)
    elif name == 'Im2ColBackward0' and known == [1] and axes.get(fn) == 1:
        pass   # nn.Unfold of (N, C, H, W): k·k copies of every channel (mapped by ``set_merge_maps``)
    else:
        refuse('an op whose channel behaviour is not modelled')
    return False


_POOLING = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
            nn.modules.pooling._AvgPoolNd, nn.modules.pooling._MaxPoolNd)


def _pools_trailing_dims(module: Optional[nn.Module], records: Dict[Any, OpRecord],
                         axes: Dict[Any, Optional[int]]) -> bool:
    """True for a pooling layer whose output's channel axis the trace follows: it pooled dims
    after the channels (a pooling over the channels loses the axis)."""
    if not isinstance(module, _POOLING):
        return False
    outputs = [fn for fn, rec in records.items() if rec.module_obj is module]
    return bool(outputs) and all(axes.get(fn) is not None for fn in outputs)


def check_layer_inputs(records: Dict[Any, OpRecord], axes: Dict[Any, Optional[int]],
                       owners: Dict[Any, Tuple[str, Optional[nn.Module]]], skip: Callable[[Any], bool]) -> None:
    """Raise :class:`UnsupportedModelError` where a conv / batch norm (which read dim 1) or a
    LayerNorm over one dim (the last) gets a tensor whose channels a permute / transpose moved
    elsewhere (a LayerNorm over the rows): that layer's width is not a channel count. Ops for
    which ``skip`` is True (inside a registered channel gate) are not checked."""
    for fn, rec in records.items():
        layer = rec.module_obj
        if skip(fn):
            continue
        if rec.func in ('conv1d', 'conv2d', 'conv3d', 'batch_norm'):
            expected = 1
        elif rec.func == 'layer_norm' and isinstance(layer, nn.LayerNorm) and norm_channels(layer) is not None:
            expected = len(rec.out_shape) - 1
        else:
            continue
        source = through_clones(fn.next_functions[0][0], records) if fn.next_functions else None
        found = axes.get(source)
        if found is not None and found != expected:
            raise UnsupportedModelError(
                f"a permute/transpose involving the channel dimension before {type(layer).__name__} "
                f"'{rec.module}': it reads dim {expected}, the channels are in dim {found}; LW-DNA cannot "
                'widen or prune through an op that moves channels where the next layer does not read them'
                f'{_adapter_hint(owners.get(source, ("", None))[1])}', owners.get(source, ('', None))[0] or None)


def _all_channels(shape: Tuple[int, ...], base: Tuple[int, ...], c: int) -> bool:
    """True if a value of ``shape`` written into part of ``base`` (channel axis ``c``) holds every
    channel: the view selects other positions (TNT's ``tokens[:, 1:] = ...``), aligned from the right."""
    at = c - (len(base) - len(shape))
    return 0 <= at < len(shape) and shape[at] == base[c]


def _written_shape(fn) -> Optional[Tuple[int, ...]]:
    """Shape of the tensor an in-place op on a view wrote into (a CopySlices node's base)."""
    meta = getattr(fn, '_input_metadata', None) if fn is not None else None
    return tuple(meta[0].shape) if meta else None


def _from_parameters_only(fn, records: Dict[Any, OpRecord], depth: int = 8) -> bool:
    """True if every input of the autograd node is a leaf parameter or, within ``depth`` ops, computed
    from parameters alone (a weight norm, a transposed weight, timm's StdConv2d standardising its
    weight with a batch norm). An input without a node (None) makes it False: the data, which
    needs no gradient, or a constant — unless the trace shows the op got no more tensors than it
    has nodes (the None is an absent optional argument, the batch norm's running statistics).
    A conv of the network input is not a computation on weights."""
    if depth == 0 or not fn.next_functions:
        return False
    nodes = [f for f, _ in fn.next_functions if f is not None]
    rec = records.get(fn)
    if len(nodes) < len(fn.next_functions) and (rec is None or len(rec.in_shapes) > len(nodes)):
        return False
    return bool(nodes) and all('AccumulateGrad' in f.name() or _from_parameters_only(f, records, depth - 1)
                               for f in nodes)


def _reads_parameters_only(fn) -> bool:
    """True if the autograd node's inputs are all leaf parameters (a weight reshape / transpose)."""
    return all(f is None or 'AccumulateGrad' in f.name() for f, _ in fn.next_functions)


def _adapter_hint(module: Optional[nn.Module]) -> str:
    """'; ...' naming the plugin's adapter for the zoo ``module`` comes from, when it is not
    imported: it registers that zoo's channel gates (timm's ECA, mmpretrain's GRN)."""
    zoo = type(module).__module__.split('.')[0] if module is not None else ''
    if zoo in ('timm', 'mmpretrain') and f'lwdna_plugin.{zoo}' not in sys.modules:
        return f'; `import lwdna_plugin.{zoo}` registers the channel gates of {zoo} (it is not imported)'
    return ''


_ARITHMETIC = {'add', 'sub', 'mul', 'div', 'rsub', 'radd', 'rmul', 'truediv', 'rtruediv',
               'add_', 'sub_', 'mul_', 'div_', 'iadd', 'isub', 'imul', 'itruediv'}


def constant_operands(records: Dict[Any, OpRecord], axes: Dict[Any, Optional[int]]) -> Dict[Any, str]:
    """Arithmetic ops outside the layers we resize that combine the channels with a buffer of more
    than one channel (T2T-ViT's sinusoidal position table), by autograd node -> why: the buffer
    cannot follow a resize, so the channels it meets keep their width."""
    found: Dict[Any, str] = {}
    for fn, rec in records.items():
        a = axes.get(fn)
        if rec.func not in _ARITHMETIC or a is None or not rec.constants or isinstance(rec.module_obj, RESIZABLE_TYPES):
            continue
        for k in rec.constants:
            shape = rec.in_shapes[k]
            at = a - (len(rec.out_shape) - len(shape))   # broadcast from the right
            if 0 <= at < len(shape) and shape[at] > 1:
                found[fn] = (f"{rec.func} in '{rec.module}' reads a buffer of {shape[at]} channels: "
                             'their width is kept')
    return found

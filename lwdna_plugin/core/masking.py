"""The reference an LW-DNA network must equal: the widened network with removed channels zeroed."""
from __future__ import annotations

import copy
from typing import Any, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch.utils._pytree import tree_flatten, tree_map

from .batches import CALL_ERRORS
from .channel_graph import ChannelGraph, within
from .errors import SearchDivergedError, UnsupportedModelError
from .layer_types import CHANNEL_GATES, CHANNEL_NORM_TYPES, CONV_TYPES, SEPARABLE_GATES, norm_channels
from .tracing import ForwardFn, default_forward, recompute_held_tensors

PROBE_TOLERANCE = 1e-6   # float64: exact pruning stays below 1e-9 (tests); the silent cases were 3e-4 and more


@torch.no_grad()
def zero_removed_channels(graph: ChannelGraph, keep_unit: np.ndarray) -> nn.Module:
    """A copy of ``graph.model`` in which no layer reads a removed channel.

    Every conv / linear input slice of a removed unit is zeroed (group convs pruned in whole
    groups lose them, so their removed inputs only feed removed outputs; those pruned by
    position lose the same inputs in every group). Its output must equal the pruned network's
    output exactly.
    """
    model = copy.deepcopy(graph.model)
    for name, module in model.named_modules():
        groups = getattr(module, 'groups', 1)
        if not isinstance(module, CONV_TYPES + (nn.Linear,)) or (groups > 1 and name not in graph.convs_by_position):
            continue
        in_dim = graph.dims.get((name, 'in'))
        if in_dim is None:
            continue
        removed = ~keep_unit[graph.slot_unit[in_dim.offset:in_dim.offset + in_dim.size // groups]]
        if removed.any():
            module.weight[:, torch.as_tensor(np.nonzero(removed)[0])] = 0
    return model


class _OverKeptChannels(nn.Module):
    """The reference's stand-in for a layer that mixes channels by design (a LayerNorm / GroupNorm
    over the channels, a channel gate, a conv standardising its weight over its inputs): the pruned
    network's layer run on the kept channels, zeros on the removed ones (which no later layer of
    the reference reads). ``kept_in`` is None where input and output channels are the same."""

    def __init__(self, pruned_layer: nn.Module, kept: torch.Tensor, width: int,
                 kept_in: Optional[torch.Tensor] = None, in_width: Optional[int] = None):
        super().__init__()
        self.layer, self.width, self.in_width = pruned_layer, width, in_width or width
        self.register_buffer('kept', kept, persistent=False)
        self.register_buffer('kept_in', kept if kept_in is None else kept_in, persistent=False)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        axis = _channel_axis_of(self.layer, x, self.in_width, [a for a in args if isinstance(a, str)] +
                                [v for v in kwargs.values() if isinstance(v, str)])
        y = self.layer(x.index_select(axis, self.kept_in), *args, **kwargs)
        shape = list(y.shape)
        shape[axis] = self.width
        return y.new_zeros(shape).index_copy(axis, self.kept, y)


def _channel_axis_of(layer: nn.Module, x: torch.Tensor, width: int, formats: List[str]) -> int:
    """Where ``layer`` finds its channels in ``x``: a ``data_format`` it is given or holds says
    (mmpretrain, HorNet), else the one of dim 1 and the last dim that has its width, else a plain
    LayerNorm reads the last dim, anything else dim 1."""
    held = getattr(layer, 'data_format', None)
    formats = formats + ([held] if isinstance(held, str) else [])
    fits = {a for a in (1, x.dim() - 1) if x.shape[a] == width}
    if formats:
        axis = x.dim() - 1 if 'last' in formats[0] else 1
    elif len(fits) == 1:   # only one dim has the layer's width (timm's LayerNorm on (N, L, C) tokens)
        axis = fits.pop()
    elif isinstance(layer, nn.LayerNorm) and type(layer).forward is nn.LayerNorm.forward:
        axis = x.dim() - 1
    else:
        axis = x.dim() - 1 if isinstance(getattr(layer, 'channel_dim', None), int) and layer.channel_dim == -1 else 1
    if x.shape[axis] != width:
        raise UnsupportedModelError(f'the exactness probe cannot find the {width} channels of '
                                    f'{type(layer).__name__} in its input of shape {tuple(x.shape)}')
    return axis


def _mixing_gate(module: nn.Module) -> bool:
    return isinstance(module, tuple(CHANNEL_GATES)) and not isinstance(module, tuple(SEPARABLE_GATES))


def _channel_norm(module: nn.Module) -> bool:
    return isinstance(module, CHANNEL_NORM_TYPES) and norm_channels(module) is not None


def channel_mixing_types(model: nn.Module, graph: ChannelGraph, keep_unit: np.ndarray) -> List[str]:
    """Type names of ``graph``'s modules (found in ``model``, the same architecture) whose output
    depends on the channel count by design and that lose channels under ``keep_unit``: LayerNorm /
    GroupNorm over the channels, registered channel gates, layers standardising their weight over
    the inputs. A norm whose channels are all kept (a transformer's embedding width kept fixed)
    computes what it computed, and is left out."""
    modules = dict(model.named_modules())

    def pruned(name: str, kind: str) -> bool:
        dim = graph.dims.get((name, kind))
        return dim is not None and not keep_unit[graph.slot_unit[dim.offset:dim.offset + dim.size]].all()
    found = set()
    for name, module in graph.modules.items():
        if name not in modules:
            continue
        if name in graph.weights_computed and pruned(name, 'in') or \
                (_mixing_gate(module) or _channel_norm(module)) and pruned(name, 'out'):
            found.add(type(modules[name]).__name__)
    return sorted(found)


def over_kept_channels(reference: nn.Module, pruned: nn.Module, graph: ChannelGraph,
                       keep_unit: np.ndarray) -> nn.Module:
    """``reference`` (changed in place) with every layer that mixes channels by design computing
    over the kept channels only, as its pruned counterpart does (:class:`_OverKeptChannels`):
    then the pruned network must equal it exactly, norms and gates included."""
    layers = dict(pruned.named_modules())
    replaced: List[str] = []

    def kept(dim) -> torch.Tensor:
        return torch.as_tensor(np.nonzero(keep_unit[graph.slot_unit[dim.offset:dim.offset + dim.size]])[0])

    for name, module in list(reference.named_modules()):
        computed = name in graph.weights_computed
        if not name or not (_mixing_gate(module) or _channel_norm(module) or computed) or \
                any(within(name, r) for r in replaced):
            continue
        out, inputs = graph.layer_dims(name)
        if out is None or (computed and inputs is None):
            raise UnsupportedModelError(f'the exactness probe cannot tell which channels of {type(module).__name__} '
                                        f'{name!r} are kept')
        stand_in = _OverKeptChannels(copy.deepcopy(layers[name]), kept(out), out.size,
                                     kept(inputs) if computed else None, inputs.size if computed else None)
        reference.set_submodule(name, stand_in)
        replaced.append(name)
    return reference


def _probe_outputs(forward_fn: ForwardFn, model: nn.Module, inputs: Any, pruned: nn.Module) -> List[torch.Tensor]:
    """The tensors ``model`` returns in float64 eval mode; a failure is the pruned network's.
    Tensors the forward creates are float64 too, and a layer given one it made float32 (a position
    encoding built with ``.float()``) gets it in its own dtype: the same values in both models."""
    def as_weight(module: nn.Module, args: Tuple[Any, ...]) -> Tuple[Any, ...]:
        return tuple(a.to(module.weight.dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)
    default = torch.get_default_dtype()
    hooks = [m.register_forward_pre_hook(as_weight) for m in model.modules()
             if isinstance(getattr(m, 'weight', None), nn.Parameter)]
    try:
        torch.set_default_dtype(torch.float64)
        model.double().eval()
        recompute_held_tensors(model)
        out = forward_fn(model, inputs)
    except CALL_ERRORS as e:
        raise UnsupportedModelError(
            f'the pruned {type(pruned).__name__} does not run ({type(e).__name__}: {e}); its forward pass '
            'reads channel counts that the plugin cannot update') from e
    finally:
        torch.set_default_dtype(default)
        for hook in hooks:
            hook.remove()
    return [t for t in tree_flatten(out)[0] if torch.is_tensor(t)]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@torch.no_grad()
def verify_pruned(graph: ChannelGraph, keep_unit: np.ndarray, pruned: nn.Module, example_inputs: Any,
                  forward_fn: Optional[ForwardFn] = None) -> float:
    """One probe forward in eval mode and float64: the pruned network against the widened one
    with the removed channels zeroed. Returns the relative error; raises
    :class:`UnsupportedModelError` above :data:`PROBE_TOLERANCE` (a forward pass that depends
    on the channel count in a way the grouping cannot see, e.g. a constant built from
    ``x.shape[1]``), instead of returning a silently different network."""
    forward_fn = forward_fn or default_forward
    inputs = tree_map(lambda t: t.double() if torch.is_tensor(t) and t.is_floating_point() else t, example_inputs)
    models = [copy.deepcopy(pruned), over_kept_channels(zero_removed_channels(graph, keep_unit), pruned, graph,
                                                         keep_unit)]
    ours, reference = [_probe_outputs(forward_fn, model, inputs, pruned) for model in models]
    if len(ours) != len(reference) or any(a.shape != b.shape for a, b in zip(ours, reference)):
        raise UnsupportedModelError(f'the pruned {type(pruned).__name__} returns other output shapes than the widened '
                                    'network: its forward pass depends on channel counts')
    if not all(torch.isfinite(b).all() for b in reference):
        raise SearchDivergedError('after the search steps the widened network\'s output is not finite: the search '
                                  'diverged (the generated weights grew without bound); lower search_lr or use the '
                                  'run\'s own optimizer')
    error = max((relative_error(a, b) for a, b in zip(ours, reference)), default=0.0)
    if not error <= PROBE_TOLERANCE:
        raise UnsupportedModelError(
            f'the pruned {type(pruned).__name__} does not compute what the widened network with the removed '
            f'channels zeroed computes (relative error {error:.2g} in float64): its forward pass depends on the '
            'channel count or on channels in a way the grouping cannot see (a constant built from x.shape[1] '
            'or out_channels, a mean over all dimensions, ...)')
    return error

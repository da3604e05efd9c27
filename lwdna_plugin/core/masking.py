"""The reference an LW-DNA network must equal: the widened network with removed channels zeroed."""
from __future__ import annotations

import copy
from typing import Any, List, Optional

import numpy as np
import torch
import torch.nn as nn
from torch.utils._pytree import tree_flatten, tree_map

from .batches import CALL_ERRORS
from .channel_graph import ChannelGraph
from .errors import SearchDivergedError, UnsupportedModelError
from .layer_types import CHANNEL_GATES, CHANNEL_NORM_TYPES, CONV_TYPES, GATE_STAND_INS, SEPARABLE_GATES, norm_channels
from .tracing import ForwardFn, default_forward

PROBE_TOLERANCE = 1e-6   # float64: exact pruning stays below 1e-9 (tests); the silent cases were 3e-4 and more


@torch.no_grad()
def zero_removed_channels(graph: ChannelGraph, keep_unit: np.ndarray) -> nn.Module:
    """A copy of ``graph.model`` in which no layer reads a removed channel.

    Every conv / linear input slice of a removed unit is zeroed (group convs lose whole
    groups, so their removed inputs only feed removed outputs). Its output must equal the
    pruned network's output exactly.
    """
    model = copy.deepcopy(graph.model)
    for name, module in model.named_modules():
        if not isinstance(module, CONV_TYPES + (nn.Linear,)) or getattr(module, 'groups', 1) > 1:
            continue
        in_dim = graph.dims.get((name, 'in'))
        if in_dim is None:
            continue
        removed = ~keep_unit[graph.slot_unit[in_dim.offset:in_dim.offset + in_dim.size]]
        if removed.any():
            module.weight[:, torch.as_tensor(np.nonzero(removed)[0])] = 0
    return model


class _AffineOnly(nn.Module):
    """A LayerNorm / GroupNorm with its statistics left out: ``x · weight + bias`` per channel."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor, data_format: Optional[str] = None) -> torch.Tensor:
        channels = norm_channels(self.norm)
        if data_format is not None:   # mmpretrain's LayerNorm2d says where its channels are
            last = data_format == 'channel_last'
        else:
            last = not isinstance(self.norm, nn.GroupNorm) and x.shape[-1] == channels and (
                x.shape[1] != channels or type(self.norm).forward is nn.LayerNorm.forward)
        shape = [1] * x.dim()
        shape[-1 if last else 1] = channels
        weight, bias = getattr(self.norm, 'weight', None), getattr(self.norm, 'bias', None)
        x = x * weight.reshape(shape) if weight is not None else x
        return x + bias.reshape(shape) if bias is not None else x


class ChannelAffine(nn.Module):
    """``weight · x + bias`` per channel (``x + weight · x + bias`` if ``residual``): the stand-in
    the probe uses for a layer that normalises over the channels by design, its statistics left
    out — a hand-written channels-first LayerNorm (HorNet's), or a GRN (ConvNeXt-V2, residual;
    x_n = 1). The channels are last if ``data_format='channel_last'`` is passed (mmpretrain) or
    ``channels_last`` is set, else at dim 1."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, channels_last: bool = False,
                 residual: bool = False):
        super().__init__()
        self.weight, self.bias, self.channels_last, self.residual = weight, bias, channels_last, residual

    def forward(self, x: torch.Tensor, data_format: Optional[str] = None) -> torch.Tensor:
        last = data_format == 'channel_last' if data_format is not None else self.channels_last
        shape = [1] * x.dim()
        shape[-1 if last else 1] = -1
        y = self.weight.reshape(shape) * x + self.bias.reshape(shape)
        return x + y if self.residual else y


class _Identity(nn.Module):
    """The stand-in of a gate without one (ECA): its input, whatever keywords it is called with."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return x


def _mixing_gate(module: nn.Module) -> bool:
    return isinstance(module, tuple(CHANNEL_GATES)) and not isinstance(module, tuple(SEPARABLE_GATES))


def _channel_norm(module: nn.Module) -> bool:
    return isinstance(module, CHANNEL_NORM_TYPES) and norm_channels(module) is not None


def channel_mixing_types(model: nn.Module) -> List[str]:
    """Type names of the modules whose output depends on the channel count by design (LayerNorm /
    GroupNorm over the channels, registered channel gates): the probe compares the rest."""
    return sorted({type(m).__name__ for m in model.modules() if _mixing_gate(m) or _channel_norm(m)})


def without_channel_mixing(model: nn.Module) -> nn.Module:
    """``model`` (changed in place) with every LayerNorm / GroupNorm over the channels affine-only
    and every registered channel gate its stand-in (ECA: the identity): what stays is
    channel-separable."""
    for name, module in list(model.named_modules()):
        if name and _mixing_gate(module):
            model.set_submodule(name, GATE_STAND_INS.get(type(module), lambda m: _Identity())(module))
        elif name and _channel_norm(module):
            model.set_submodule(name, _AffineOnly(module))
    return model


def _probe_outputs(forward_fn: ForwardFn, model: nn.Module, inputs: Any, pruned: nn.Module) -> List[torch.Tensor]:
    """The tensors ``model`` returns in float64 eval mode; a failure is the pruned network's."""
    try:
        out = forward_fn(model.double().eval(), inputs)
    except CALL_ERRORS as e:
        raise UnsupportedModelError(
            f'the pruned {type(pruned).__name__} does not run ({type(e).__name__}: {e}); its forward pass '
            'reads channel counts that the plugin cannot update') from e
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
    models = [copy.deepcopy(pruned), zero_removed_channels(graph, keep_unit)]
    if channel_mixing_types(pruned):
        # statistics over the channels and channel-axis convs change with the channel count by
        # design: the real pruned network must run finite; the rest is compared exactly with
        # those norms affine-only and those gates left out
        if not all(torch.isfinite(t).all() for t in _probe_outputs(forward_fn, copy.deepcopy(pruned), inputs, pruned)):
            raise UnsupportedModelError(f'the pruned {type(pruned).__name__} returns non-finite values')
        models = [without_channel_mixing(m) for m in models]
    ours, reference = [_probe_outputs(forward_fn, model, inputs, pruned) for model in models]
    if len(ours) != len(reference) or any(a.shape != b.shape for a, b in zip(ours, reference)):
        raise UnsupportedModelError(f'the pruned {type(pruned).__name__} returns other output shapes than the widened '
                                    'network: its forward pass depends on channel counts')
    if not all(torch.isfinite(b).all() for b in reference):
        mixing = channel_mixing_types(pruned)
        if mixing:   # the stand-ins, not the search: norms without statistics let activations grow
            raise UnsupportedModelError(
                f'the exactness probe cannot compare the pruned {type(pruned).__name__}: with its channel-mixing '
                f'layers ({", ".join(mixing)}) affine-only, as the probe compares them, the widened network overflows '
                'float64 (products of features grow without the normalisation)')
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

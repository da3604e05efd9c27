"""Change the channel counts of a model's groups: widen / rebuild (fresh weights) and prune
(keep selected units, weights sliced exactly)."""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Collection, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from .attributes import sync_head_attributes, sync_split_attributes, sync_width_attributes
from .channel_graph import ChannelGraph, Dim, dim_layout
from .errors import UnsupportedModelError
from .init_match import match_baseline_init
from .layer_types import CHANNEL_GATES, CHANNEL_NORM_TYPES, CONV_TYPES, RESIZABLE_TYPES, channel_axis
from .tracing import recompute_held_tensors


def resize_groups(graph: ChannelGraph, new_units: Mapping[int, int],
                  weights_set_later: Collection[str] = (), init_like_baseline: bool = True) -> nn.Module:
    """A copy of ``graph.model`` whose groups have ``new_units[g]`` units (others unchanged).

    Resized layers get fresh parameters, drawn like the baseline's layers if
    ``init_like_baseline`` (:func:`~lwdna_plugin.core.init_match.match_baseline_init`), else by
    their own ``reset_parameters``; a zoo's own init method, where it has one, may run
    afterwards. The ``weight`` of layers named in ``weights_set_later`` is left uninitialised
    (the hypernetwork writes it).
    """
    sizes: Dict[Tuple[str, str], int] = {}
    for (key, kind), dim in graph.dims.items():
        if dim.module is None:
            continue
        size = 0
        for g, per_unit, count in dim_layout(graph, dim):
            size += count if g < 0 else per_unit * int(new_units.get(g, count))
        sizes[(key, kind)] = size
    model = copy.deepcopy(graph.model)
    modules = dict(model.named_modules())
    initialised = []
    for name, module in modules.items():
        out_dim, in_dim = graph.layer_dims(name)
        if out_dim is None or out_dim.module is None:
            continue
        out_size, in_size = sizes[(name, 'out')], sizes.get((name, 'in'))
        if out_size == out_dim.size and (in_dim is None or in_size == in_dim.size):
            continue
        if isinstance(module, tuple(CHANNEL_GATES)):   # its per-channel parameters are dims of their own
            _set_widths(module, out_dim.size, out_size)
            continue
        groups = graph.conv_groups(name, module, out_size, in_size) if isinstance(module, CONV_TYPES) else 1
        _reset_module(module, name, out_size, in_size, groups, init_weight=name not in weights_set_later)
        if name not in weights_set_later:
            initialised.append(name)
    for key, dim in _param_dims(graph):
        if sizes[(key, 'out')] != dim.size:
            _set_param(model, key, _widen_values(dim.module, sizes[(key, 'out')], _axis(dim)), _axis(dim))
    if init_like_baseline:
        match_baseline_init(graph.model, model, initialised)
    sync_width_attributes(graph.model, model)
    sync_split_attributes(graph, model, lambda g, c: c * int(new_units.get(g, graph.groups[g].num_units))
                          // graph.groups[g].num_units)
    sync_head_attributes(graph, model, {g.index: int(new_units.get(g.index, g.num_units)) for g in graph.groups})
    recompute_held_tensors(model)
    return model


def resized_graph(graph: ChannelGraph, model: nn.Module, new_units: Mapping[int, int]) -> ChannelGraph:
    """The channel graph of ``model = resize_groups(graph, new_units)``, derived from ``graph``'s
    layouts instead of tracing again. Group g's new units are numbered consecutively; layer
    dims keep their order. Op dims are left out: costs come from ``graph``'s table, which is
    linear in the units per group and so evaluates the resized model exactly.
    """
    counts = [int(new_units.get(g.index, g.num_units)) for g in graph.groups]
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    fixed_ids: Dict[int, int] = {}      # unit owned by no group (e.g. the image channels) -> new id
    modules, params = dict(model.named_modules()), dict(model.named_parameters())
    dims: Dict[Tuple[str, str], Dim] = {}
    parts: List[np.ndarray] = []
    offset = 0
    for (key, kind), dim in graph.dims.items():
        if dim.module is None:
            continue
        old = graph.slot_unit[dim.offset:dim.offset + dim.size]
        pieces, pos = [], 0
        for g, per_unit, count in dim_layout(graph, dim):
            if g < 0:
                pieces.append(np.asarray([fixed_ids.setdefault(int(u), -1 - len(fixed_ids))
                                          for u in old[pos:pos + count]], dtype=np.int64))
                pos += count
            else:
                pieces.append(first[g] + np.repeat(np.arange(counts[g]), per_unit))
                pos += per_unit * graph.groups[g].num_units
        units = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        dims[(key, kind)] = Dim(key, kind, len(units), offset, modules[key] if key in modules else params[key],
                                dim.axis)
        parts.append(units)
        offset += len(units)
    slot_unit = np.concatenate(parts)
    slot_unit[slot_unit < 0] = first[-1] - 1 - slot_unit[slot_unit < 0]   # fixed units after group units
    n_units = int(first[-1]) + len(fixed_ids)
    unit_group = np.full(n_units, -1, dtype=np.int64)
    unit_local = np.full(n_units, -1, dtype=np.int64)
    groups = []
    for g, count in zip(graph.groups, counts):
        ids = np.arange(first[g.index], first[g.index] + count)
        unit_group[ids] = g.index
        unit_local[ids] = np.arange(count)
        groups.append(dataclasses.replace(g, units=ids))
    return ChannelGraph(model, dims, slot_unit, unit_group, unit_local, groups, modules, list(graph.classifiers),
                        set(graph.traced), [],
                        [s.resized(lambda g, c: c * counts[g] // graph.groups[g].num_units) for s in graph.splits],
                        convs_by_position=graph.convs_by_position, weights_computed=graph.weights_computed,
                        token_mixing=graph.token_mixing, heads=graph.heads, kept_whole=graph.kept_whole)


def select_units(graph: ChannelGraph, keep_unit: np.ndarray) -> nn.Module:
    """A copy of ``graph.model`` keeping the slots of units where ``keep_unit`` is True.

    Weights are sliced, not re-initialised: the result computes exactly what the original
    computes when the removed channels are zeroed.
    """
    model = copy.deepcopy(graph.model)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, module in modules.items():
            out_dim, in_dim = graph.layer_dims(name)
            if out_dim is None or out_dim.module is None:
                continue
            keep_out = _kept_positions(graph, out_dim, keep_unit)
            keep_in = _kept_positions(graph, in_dim, keep_unit) if in_dim is not None else None
            if len(keep_out) == out_dim.size and (keep_in is None or len(keep_in) == in_dim.size):
                continue
            if isinstance(module, tuple(CHANNEL_GATES)):
                _set_widths(module, out_dim.size, len(keep_out))
                continue
            groups = graph.conv_groups(name, module, len(keep_out), len(keep_in)) \
                if isinstance(module, CONV_TYPES) else 1
            _slice_module(module, name, keep_out, keep_in, groups)
        for key, dim in _param_dims(graph):
            keep = _kept_positions(graph, dim, keep_unit)
            if len(keep) != dim.size:
                old = dict(model.named_parameters())[key]
                _set_param(model, key, old.detach().index_select(_axis(dim), keep.to(old.device)), _axis(dim))
    sync_width_attributes(graph.model, model)
    kept = {g.index: int(keep_unit[g.units].sum()) for g in graph.groups}
    sync_split_attributes(graph, model, lambda g, c: c * kept[g] // graph.groups[g].num_units)
    sync_head_attributes(graph, model, kept)
    recompute_held_tensors(model)
    return model


def _kept_positions(graph: ChannelGraph, dim: Dim, keep_unit: np.ndarray) -> torch.Tensor:
    units = graph.slot_unit[dim.offset:dim.offset + dim.size]
    return torch.as_tensor(np.nonzero(keep_unit[units])[0], dtype=torch.long)


def _new_param(old: Optional[nn.Parameter], shape) -> Optional[nn.Parameter]:
    if old is None:
        return None
    return nn.Parameter(torch.empty(shape, dtype=old.dtype, device=old.device), requires_grad=old.requires_grad)


def _param_dims(graph: ChannelGraph) -> List[Tuple[str, Dim]]:
    """The dims of per-channel parameters (a layer scale), by parameter name."""
    return [(key, dim) for (key, kind), dim in graph.dims.items() if isinstance(dim.module, nn.Parameter)]


def _axis(dim: Dim) -> int:
    """The channel axis of a per-channel parameter's dim."""
    return dim.axis if dim.axis is not None else channel_axis(dim.module)


def _widen_values(old: torch.Tensor, size: int, axis: int) -> torch.Tensor:
    """``old`` with ``size`` entries along its channel ``axis``: the first ones kept, the new ones
    copies of its own entries drawn at random (a constant init such as a layer scale stays constant)."""
    old = old.detach()
    extra = torch.randint(old.shape[axis], (max(size - old.shape[axis], 0),))
    return torch.cat([old, old.index_select(axis, extra)], dim=axis).narrow(axis, 0, size)


def _set_param(model: nn.Module, key: str, value: torch.Tensor, axis: int) -> None:
    owner_name, _, attr = key.rpartition('.')
    owner = model.get_submodule(owner_name)
    old = getattr(owner, attr)
    setattr(owner, attr, nn.Parameter(value.contiguous().to(old.dtype), requires_grad=old.requires_grad))
    size, new_size = old.shape[axis], value.shape[axis]
    _set_widths(owner, size, new_size)
    for name, held in list(vars(owner).items()):   # the shape its forward views it to (timm's Scale)
        if isinstance(held, (tuple, list)) and not name.startswith('_') and held and \
                all(type(v) is int for v in held) and sorted(held)[-1] == size and held.count(size) == 1 and \
                all(v in (1, size) for v in held):
            setattr(owner, name, type(held)(new_size if v == size else v for v in held))


def _set_widths(module: nn.Module, size: int, new_size: int) -> None:
    """The width a module without resizable layers checks its input against (InstanceNorm's
    ``num_features``), where it holds the old one."""
    for name in ('num_features', 'num_channels', 'dim', 'channels'):
        if type(getattr(module, name, None)) is int and getattr(module, name) == size:
            setattr(module, name, new_size)


def _set_norm_channels(module: nn.Module, name: str, size: int) -> None:
    """A LayerNorm / GroupNorm over ``size`` channels (a GroupNorm keeps its channels per group)."""
    if isinstance(module, nn.LayerNorm):
        module.normalized_shape = (size,)
        return
    if module.num_groups == 1:
        module.num_channels = size
        return
    per_group = module.num_channels // module.num_groups
    if size % per_group:
        raise UnsupportedModelError(f'GroupNorm {name!r} cannot take {size} channels in groups of {per_group}')
    module.num_groups = size // per_group
    module.num_channels = size


def _reset_module(module: nn.Module, name: str, out_size: int, in_size: Optional[int], groups: int = 1,
                  init_weight: bool = True) -> None:
    if isinstance(module, nn.modules.conv._ConvTransposeNd) or not isinstance(module, RESIZABLE_TYPES):
        raise UnsupportedModelError(f'cannot resize {type(module).__name__} {name!r}')
    if isinstance(module, CONV_TYPES):
        module.groups, module.out_channels, module.in_channels = groups, out_size, in_size
        module.weight = _new_param(module.weight, (out_size, in_size // module.groups, *module.kernel_size))
        module.bias = _new_param(module.bias, (out_size,))
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = out_size, in_size
        module.weight = _new_param(module.weight, (out_size, in_size))
        module.bias = _new_param(module.bias, (out_size,))
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = out_size
        module.weight = _new_param(module.weight, (out_size,))
        module.bias = _new_param(module.bias, (out_size,))
        if module.running_mean is not None:
            module.running_mean = torch.zeros(out_size, device=module.running_mean.device)
            module.running_var = torch.ones(out_size, device=module.running_var.device)
    elif isinstance(module, CHANNEL_NORM_TYPES):
        _set_norm_channels(module, name, out_size)
        module.weight = _new_param(module.weight, (out_size,))
        module.bias = _new_param(module.bias, (out_size,))
    elif module.num_parameters > 1:   # a per-channel PReLU; a shared one keeps its single slope
        module.num_parameters = out_size
        module.weight = _new_param(module.weight, (out_size,))
    if init_weight:
        module.reset_parameters()
    elif getattr(module, 'bias', None) is not None:   # conv / linear: keep the default bias init
        fan_in = module.weight[0].numel()
        nn.init.uniform_(module.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))


def _slice_module(module: nn.Module, name: str, keep_out: torch.Tensor, keep_in: Optional[torch.Tensor],
                  groups: int = 1) -> None:
    def take(t, idx, dim=0):
        return None if t is None else t.index_select(dim, idx.to(t.device))

    def as_param(old, new):
        return None if old is None else nn.Parameter(new.contiguous(), requires_grad=old.requires_grad)

    if isinstance(module, CONV_TYPES):
        weight = take(module.weight, keep_out)
        if groups == module.groups:   # each group keeps the same input positions (all of them if groups == 1)
            weight = take(weight, keep_in[:len(keep_in) // groups], 1)
        module.groups = groups
        module.out_channels, module.in_channels = len(keep_out), len(keep_in)
        module.weight = as_param(module.weight, weight)
        module.bias = as_param(module.bias, take(module.bias, keep_out))
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = len(keep_out), len(keep_in)
        module.weight = as_param(module.weight, take(take(module.weight, keep_out), keep_in, 1))
        module.bias = as_param(module.bias, take(module.bias, keep_out))
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = len(keep_out)
        module.weight = as_param(module.weight, take(module.weight, keep_out))
        module.bias = as_param(module.bias, take(module.bias, keep_out))
        if module.running_mean is not None:
            module.running_mean = take(module.running_mean, keep_out)
            module.running_var = take(module.running_var, keep_out)
    elif isinstance(module, CHANNEL_NORM_TYPES):
        _set_norm_channels(module, name, len(keep_out))
        module.weight = as_param(module.weight, take(module.weight, keep_out))
        module.bias = as_param(module.bias, take(module.bias, keep_out))
    elif isinstance(module, nn.PReLU):
        if module.num_parameters > 1:   # a shared PReLU keeps its single slope
            module.num_parameters = len(keep_out)
            module.weight = as_param(module.weight, take(module.weight, keep_out))
    else:
        raise UnsupportedModelError(f'cannot prune {type(module).__name__} {name!r}')

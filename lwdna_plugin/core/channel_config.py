"""The versioned JSON channel config and rebuilding an LW-DNA network from it."""
from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from .errors import ChannelConfigMismatchError
from .groups import ChannelGraph, build_channel_graph, share_latents
from .outputs import write_file_atomically
from .resize import resize_groups
from .safe_load import is_int, read_json_file
from .tracing import ForwardFn

FORMAT = 'lwdna-channel-config'
VERSION = 1
MAX_EXAMPLE_ELEMENTS = 2 ** 26   # the example input a rebuild traces with (1×3×4096×4096 fits)


def model_identity(model: nn.Module, name: Optional[str] = None) -> Dict[str, Any]:
    cls = type(model)
    return {'class': f'{cls.__module__}.{cls.__qualname__}', 'name': name}


def signature_hash(graph: ChannelGraph) -> str:
    return hashlib.sha256(json.dumps(graph.signature(), sort_keys=True).encode()).hexdigest()[:16]


def group_entries(base: ChannelGraph, wide: ChannelGraph, keep_units: Sequence[np.ndarray],
                  floors: Sequence[int]) -> List[Dict[str, Any]]:
    """One JSON entry per group: its layers and its baseline / widened / kept widths."""
    entries = []
    for g_base, g_wide, keep, floor in zip(base.groups, wide.groups, keep_units, floors):
        entries.append({
            'index': g_base.index,
            'name': g_base.name,
            'members': list(g_base.members),
            'fixed': g_base.fixed_reason or False,
            'feeds_classifier': g_base.feeds_classifier,
            'unit_channels': g_base.unit_channels,
            'baseline_units': g_base.num_units,
            'widened_units': g_wide.num_units,
            'kept_units': int(len(keep)),
            'floor_units': int(floor),
            'baseline_channels': g_base.num_units * g_base.unit_channels,
            'lwdna_channels': int(len(keep)) * g_base.unit_channels,
            'kept_indices': [int(i) for i in keep],
        })
    return entries


def summarize(config: Dict[str, Any]) -> Dict[str, Any]:
    """Baseline vs LW-DNA FLOPs / params, the target and the shrink time of a channel config."""
    f, p, target, latency = config['flops'], config['params'], config['target'], config.get('latency')
    baseline = {'flops': f['baseline'], 'params': p['baseline'],
                'latency': latency['baseline_s'] if latency else None}[target['kind']]
    summary = {
        'baseline FLOPs (G)': round(f['baseline'] / 1e9, 6),
        'LW-DNA FLOPs (G)': round(f['lwdna'] / 1e9, 6),
        'FLOPs ratio (%)': round(100 * f['lwdna'] / f['baseline'], 3),
        f'{target["kind"]} target ratio (%)': round(100 * target['value'] / baseline, 3),
        'baseline params (M)': round(p['baseline'] / 1e6, 6),
        'LW-DNA params (M)': round(p['lwdna'] / 1e6, 6),
        'params ratio (%)': round(100 * p['lwdna'] / p['baseline'], 3),
    }
    if latency:
        summary.update({'baseline latency (ms)': round(1e3 * latency['baseline_s'], 4),
                        'LW-DNA latency predicted (ms)': round(1e3 * latency['predicted_s'], 4),
                        'LW-DNA latency measured (ms)': round(1e3 * latency['measured_s'], 4),
                        'latency ratio measured (%)': round(100 * latency['measured_s'] / latency['baseline_s'], 3)})
    summary['shrink time (s)'] = round(config['timings']['total_s'], 3)
    return summary


def validate_channel_config(config: Any) -> Dict[str, Any]:
    """Check a channel config's format and version; returns it. Raises on anything else."""
    if isinstance(config, (str, os.PathLike)):
        config = load_channel_config(config)
    if not isinstance(config, dict) or config.get('format') != FORMAT:
        raise ChannelConfigMismatchError(f'not an LW-DNA channel config (expected "format": "{FORMAT}")')
    if config.get('version') != VERSION:
        raise ChannelConfigMismatchError(
            f'channel config version {config.get("version")!r} is not supported (this plugin reads {VERSION})')
    for key in ('groups', 'input_shape', 'signature'):
        if key not in config:
            raise ChannelConfigMismatchError(f'channel config lacks the field {key!r}')
    shape = config['input_shape']
    if shape is not None and (
            not isinstance(shape, list) or not 2 <= len(shape) <= 5 or not all(map(is_int(1), shape))
            or math.prod(shape) > MAX_EXAMPLE_ELEMENTS):
        raise ChannelConfigMismatchError(f'channel config: input_shape {shape!r:.80} is not the shape of one '
                                         f'example input (2 to 5 positive sizes, at most {MAX_EXAMPLE_ELEMENTS} '
                                         'elements)')
    return config


def recorded_builder(config: Dict[str, Any]) -> Dict[str, Any]:
    """How the baseline was built, as recorded by the zoo adapter ({} if not recorded). Data
    from a file: each adapter checks it against its allow-list before building anything."""
    model = config.get('model')
    builder = model.get('builder') if isinstance(model, dict) else None
    return builder if isinstance(builder, dict) else {}


def load_channel_config(path: str | os.PathLike) -> Dict[str, Any]:
    """Read a channel config JSON file as data (size and nesting limited; a JSON object, not yet
    validated otherwise)."""
    config = read_json_file(path, 'channel config', ChannelConfigMismatchError)
    if not isinstance(config, dict):
        raise ChannelConfigMismatchError(f'channel config {os.fspath(path)!r} holds a JSON {type(config).__name__}, '
                                         'not an object: not an LW-DNA channel config')
    return config


def save_channel_config(config: Dict[str, Any], path: str | os.PathLike) -> None:
    """Write atomically (a half-written file never replaces a good one)."""
    write_file_atomically(path, lambda tmp: write_json(config, tmp))


def write_json(data: Any, path: str) -> None:
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)


def check_matches(graph: ChannelGraph, config: Dict[str, Any]) -> None:
    """Raise :class:`ChannelConfigMismatchError` describing the first difference."""
    expected = config['signature']
    actual = graph.signature()
    model = config.get('model', {}).get('class', '?')
    if len(expected) != len(actual):
        raise ChannelConfigMismatchError(
            f'the channel config was made for a model with {len(expected)} channel groups ({model}); '
            f'this model has {len(actual)} ({type(graph.model).__name__})')
    for e, a in zip(expected, actual):
        if e != a:
            field = next(k for k in e if e[k] != a.get(k))
            raise ChannelConfigMismatchError(
                f'the channel config does not match this model: group {e["index"]} ({e["members"][:2]}) '
                f'has {field}={a.get(field)!r} here but {e[field]!r} in the config (made for {model})')


def apply_channel_config(model: nn.Module, config: Dict[str, Any] | str | os.PathLike,
                         example_inputs: Any = None, forward_fn: Optional[ForwardFn] = None) -> nn.Module:
    """Rebuild the LW-DNA architecture from a freshly built baseline and its channel config.

    No scoring happens; the returned copy has the kept widths with freshly initialised
    resized layers. Raises :class:`ChannelConfigMismatchError` if ``model`` is not the
    baseline the config was made for.
    """
    config = validate_channel_config(config)
    if example_inputs is None:
        if config['input_shape'] is None:
            raise ChannelConfigMismatchError('this channel config records no input shape (the model took '
                                             'non-tensor inputs): pass example_inputs')
        param = next(model.parameters(), None)
        example_inputs = torch.zeros(config['input_shape'], device=param.device if param is not None else 'cpu')
    hyper = config.get('hyperparameters') or {}
    if not isinstance(hyper, dict):
        raise ChannelConfigMismatchError('channel config: hyperparameters must be an object')
    sharing = hyper.get('channels_per_latent', 1)   # absent before 0.4.0
    if not is_int(1, 1024)(sharing):
        raise ChannelConfigMismatchError(f'channel config: channels_per_latent {sharing!r:.40} is not a channel count')
    graph = share_latents(build_channel_graph(model, example_inputs, forward_fn, hyper.get('ignored_layers', ())),
                          sharing)
    check_matches(graph, config)
    return resize_groups(graph, kept_units(graph, config))


def kept_units(graph: ChannelGraph, config: Dict[str, Any]) -> Dict[int, int]:
    """The kept units per group index, checked against the model: every group once, integer
    counts from 1 up to the widened width, fixed groups (network input / output) unchanged.
    A tampered or hand-edited config is refused instead of giving another network."""
    width = config.get('width_mult')
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 1 <= width <= 64:
        raise ChannelConfigMismatchError(f'channel config: width_mult {width!r:.40} is not a width multiplier')
    divisor = (config.get('hyperparameters') or {}).get('channel_divisor', 1)
    divisor = divisor if is_int(1)(divisor) else 1
    entries = config['groups']
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ChannelConfigMismatchError('channel config: groups must be a list of objects')
    kept: Dict[int, int] = {}
    for entry in entries:
        index, units = entry.get('index'), entry.get('kept_units')
        if not is_int(0, len(graph.groups) - 1)(index) or index in kept:
            raise ChannelConfigMismatchError(f'channel config: group index {index!r:.40} is not a group of this '
                                             f'model (0 to {len(graph.groups) - 1}, each once)')
        group = graph.groups[index]
        most = math.ceil(width * group.num_units) + divisor
        if not is_int(1, most)(units):
            raise ChannelConfigMismatchError(f'channel config: group {index} ({group.name}) keeps {units!r:.40} '
                                             f'units; it has {group.num_units}, at most {most} when widened')
        if group.fixed_reason and units != group.num_units:
            raise ChannelConfigMismatchError(f'channel config: group {index} ({group.name}) is fixed '
                                             f'({group.fixed_reason}) but keeps {units} of its {group.num_units} units')
        indices = entry.get('kept_indices', list(range(units)))
        if (not isinstance(indices, list) or len(indices) != units or not all(map(is_int(0, most - 1), indices))
                or len(set(indices)) != units):
            raise ChannelConfigMismatchError(f'channel config: group {index} ({group.name}) kept_indices are not '
                                             f'{units} distinct unit indices from 0 to {most - 1}')
        kept[index] = units
    missing = [g.index for g in graph.groups if g.index not in kept and not g.fixed_reason]
    if missing:
        raise ChannelConfigMismatchError(f'channel config: no entry for group(s) {missing[:5]} of this model')
    return kept

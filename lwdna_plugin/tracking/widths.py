"""The channel widths of a (possibly LW-DNA) ResNet50 in pytracking's layout, as plain JSON.

::

    {"format": "lwdna-resnet-widths", "version": 1, "arch": "resnet50", "num_classes": 1000,
     "stem": 64,                                     # conv1 / bn1 output channels
     "layers": {"layer1": {"out": 256,               # residual stream of the stage (conv3, downsample)
                           "blocks": [[64, 64], ...]},   # per block: conv1 and conv2 output channels
                ...}}

Extra keys (provenance, input normalisation) are allowed and kept. The dict is small and
made of plain JSON types, so it can travel in a network constructor's keyword arguments.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Union

import torch

from ..core.errors import ChannelConfigMismatchError, ConfigError
from ..core.safe_load import read_json_file

FORMAT = 'lwdna-resnet-widths'
VERSION = 1
STAGES = ('layer1', 'layer2', 'layer3', 'layer4')
RESNET50_BLOCKS = (3, 4, 6, 3)
Widths = Dict[str, Any]


def baseline_widths(num_classes: int = 1000) -> Widths:
    """The widths of the standard (torchvision / pytracking) ResNet50."""
    layers = {name: {'out': 256 * 2 ** i, 'blocks': [[64 * 2 ** i, 64 * 2 ** i] for _ in range(n)]}
              for i, (name, n) in enumerate(zip(STAGES, RESNET50_BLOCKS))}
    return {'format': FORMAT, 'version': VERSION, 'arch': 'resnet50', 'num_classes': num_classes, 'stem': 64,
            'layers': layers}


def load_widths(path: Union[str, os.PathLike]) -> Widths:
    """Read a widths JSON file (validated; size and nesting limited)."""
    return validate_widths(read_json_file(path, 'channel widths file', ConfigError))


def save_widths(widths: Widths, path: Union[str, os.PathLike]) -> None:
    with open(path, 'w') as f:
        json.dump(validate_widths(widths), f, indent=1)


def validate_widths(widths: Union[Mapping[str, Any], str, os.PathLike]) -> Widths:
    """Check a widths dict (or load it from a path); returns a plain-dict copy."""
    if isinstance(widths, (str, os.PathLike)):
        return load_widths(widths)
    if not isinstance(widths, Mapping) or widths.get('format') != FORMAT:
        raise ConfigError(f'not a ResNet channel-widths config (expected "format": "{FORMAT}"); '
                          'tools/export_dimp_backbone.py writes one next to the exported weights')
    widths = json.loads(json.dumps(widths))   # plain types, our own copy
    if widths.get('version') != VERSION:
        raise ConfigError(f'channel widths version {widths.get("version")!r} is not supported '
                          f'(this plugin reads {VERSION})')
    if widths.get('arch') != 'resnet50':
        raise ConfigError(f'channel widths are for {widths.get("arch")!r}; only resnet50 is supported')
    _positive(widths.get('stem'), 'stem')
    _positive(widths.get('num_classes'), 'num_classes')
    layers = widths.get('layers')
    if not isinstance(layers, dict) or sorted(layers) != list(STAGES):
        raise ConfigError(f'channel widths need "layers" with exactly {list(STAGES)}')
    for name, n in zip(STAGES, RESNET50_BLOCKS):
        stage = layers[name]
        if not isinstance(stage, dict):
            raise ConfigError(f'channel widths: {name} must be a dict with "out" and "blocks"')
        _positive(stage.get('out'), f'{name}.out')
        blocks = stage.get('blocks')
        if not isinstance(blocks, list) or len(blocks) != n:
            raise ConfigError(f'channel widths: {name} of a ResNet50 has {n} blocks, got {blocks!r:.80}')
        for b, block in enumerate(blocks):
            if not isinstance(block, list) or len(block) != 2:
                raise ConfigError(f'channel widths: {name}.{b} must be [conv1 channels, conv2 channels]')
            for k, value in enumerate(block):
                _positive(value, f'{name}.{b}.conv{k + 1}')
    return widths


def out_feature_channels(widths: Widths) -> Dict[str, int]:
    """Channels of the feature maps pytracking's backbone can return (same keys as pytracking)."""
    widths = validate_widths(widths)
    return {'conv1': widths['stem'], **{name: widths['layers'][name]['out'] for name in STAGES}}


def widths_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Widths:
    """Read the widths off a ResNet50 state dict with torchvision / pytracking key names.

    Raises :class:`ChannelConfigMismatchError` if the keys are not those of a ResNet50."""
    def out_channels(key: str) -> int:
        if key not in state_dict:
            raise ChannelConfigMismatchError(
                f'not a ResNet50 state dict with torchvision key names: {key!r} is missing')
        return int(state_dict[key].shape[0])

    layers = {}
    for name, n in zip(STAGES, RESNET50_BLOCKS):
        extra = f'{name}.{n}.conv1.weight'
        if extra in state_dict:
            raise ChannelConfigMismatchError(
                f'not a ResNet50 state dict: {extra!r} exists ({name} has {n} blocks in a ResNet50)')
        layers[name] = {'out': out_channels(f'{name}.0.conv3.weight'),
                        'blocks': [[out_channels(f'{name}.{b}.conv1.weight'), out_channels(f'{name}.{b}.conv2.weight')]
                                   for b in range(n)]}
    return {'format': FORMAT, 'version': VERSION, 'arch': 'resnet50', 'num_classes': out_channels('fc.weight'),
            'stem': out_channels('conv1.weight'), 'layers': layers}


def describe(widths: Widths) -> List[str]:
    """One line per stage: its output channels and its blocks' inner widths."""
    widths = validate_widths(widths)
    lines = [f'conv1: {widths["stem"]}']
    for name in STAGES:
        stage = widths['layers'][name]
        lines.append(f'{name}: {stage["out"]} (blocks {", ".join("/".join(map(str, b)) for b in stage["blocks"])})')
    return lines


def _positive(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'channel widths: {what} must be a positive integer, got {value!r}')

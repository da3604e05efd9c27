"""A ResNet50 backbone with per-block widths that follows pytracking's backbone interface
(``ltr/models/backbone/resnet.py``) without importing pytracking: torchvision key names,
``forward(x, output_layers)`` returning an ``OrderedDict`` and stopping after the last
requested layer, ``out_feature_channels()`` / ``out_feature_strides()`` and frozen layers."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn

from ..core.errors import ConfigError
from .weights import load_strict, read_state_dict
from .widths import STAGES, Widths, baseline_widths, validate_widths, widths_from_state_dict

LAYERS = ('conv1', *STAGES, 'fc')


class Bottleneck(nn.Module):
    """torchvision's bottleneck (stride on the 3×3 conv) with independent inner widths."""

    def __init__(self, in_channels: int, width1: int, width2: int, out_channels: int, stride: int = 1,
                 dilation: int = 1, downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width1, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width1)
        self.conv2 = nn.Conv2d(width1, width2, kernel_size=3, stride=stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(width2)
        self.conv3 = nn.Conv2d(width2, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class LWDNAResNet(nn.Module):
    """ResNet50 with the widths of ``channel_config`` (see :mod:`.widths`).

    ``output_layers``: the default layers ``forward`` returns (``['default']`` = the logits
    tensor, as in pytracking). ``frozen_layers``: child names (``'conv1'``, ``'bn1'``,
    ``'layer1'`` …), ``'all'`` or ``'none'``; their parameters get ``requires_grad=False`` and
    ``train()`` keeps them in eval mode (pytracking's ``Backbone`` semantics).
    ``dilation_factor`` as in pytracking (1, 2, 4 or 8: later stages dilate instead of striding;
    as there, only the first block of a stage is dilated).
    """

    def __init__(self, channel_config: Union[Widths, str, os.PathLike], output_layers: Sequence[str] = ('default',),
                 frozen_layers: Union[str, Sequence[str]] = (), dilation_factor: int = 1) -> None:
        super().__init__()
        self.channel_config = validate_widths(channel_config)
        self.output_layers = _check_output_layers(output_layers)
        if dilation_factor not in (1, 2, 4, 8):
            raise ConfigError(f'dilation_factor must be 1, 2, 4 or 8, got {dilation_factor!r}')
        widths, stages = self.channel_config, self.channel_config['layers']
        self.conv1 = nn.Conv2d(3, widths['stem'], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths['stem'])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        strides = [1] + [1 + (dilation_factor < limit) for limit in (8, 4, 2)]
        dilations = [max(dilation_factor // d, 1) for d in (8, 4, 2, 1)]
        in_channels = widths['stem']
        for name, stride, dilation in zip(STAGES, strides, dilations):
            setattr(self, name, _stage(in_channels, stages[name], stride, dilation))
            in_channels = stages[name]['out']
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_channels, widths['num_classes'])

        self._out_feature_strides, step = {'conv1': 2}, 4   # (the max-pool halves conv1's output)
        for name, stride in zip(STAGES, strides):
            step *= stride
            self._out_feature_strides[name] = step
        self._out_feature_channels = {'conv1': widths['stem'], **{name: stages[name]['out'] for name in STAGES}}
        self._init_weights()
        self.frozen_layers = frozen_layers if isinstance(frozen_layers, str) else list(frozen_layers)
        for module in self._frozen_modules():
            for p in module.parameters():
                p.requires_grad_(False)

    def out_feature_strides(self, layer: Optional[str] = None):
        """Stride of each returnable feature map (the real ones: conv1 is 2; pytracking reports 4)."""
        return self._out_feature_strides if layer is None else self._out_feature_strides[layer]

    def out_feature_channels(self, layer: Optional[str] = None):
        """Channels of each returnable feature map: the real, possibly shrunk widths."""
        return self._out_feature_channels if layer is None else self._out_feature_channels[layer]

    def train(self, mode: bool = True) -> 'LWDNAResNet':
        super().train(mode)
        if mode:
            for module in self._frozen_modules():
                module.eval()
        return self

    def forward(self, x: torch.Tensor, output_layers: Optional[Sequence[str]] = None):
        """An ``OrderedDict`` of the requested layers (in network order); stops after the last
        one. ``['default']`` returns the logits tensor."""
        layers = self.output_layers if output_layers is None else _check_output_layers(output_layers)
        logits_only = layers == ['default']
        wanted, outputs = {'fc'} if logits_only else set(layers), OrderedDict()

        def keep(name: str, value: torch.Tensor) -> bool:
            if name in wanted:
                outputs[name] = value
            return len(outputs) == len(wanted)

        x = self.relu(self.bn1(self.conv1(x)))
        if keep('conv1', x):
            return outputs
        x = self.maxpool(x)
        for name in STAGES:
            x = getattr(self, name)(x)
            if keep(name, x):
                return outputs
        keep('fc', self.fc(torch.flatten(self.avgpool(x), 1)))
        return outputs['fc'] if logits_only else outputs

    def _init_weights(self) -> None:
        """pytracking's initialisation: He-normal convs (fan-out), BN weight 1 and bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _frozen_modules(self) -> list:
        """The frozen child modules (all of them for ``'all'``); raises on unknown names."""
        frozen, children = self.frozen_layers, dict(self.named_children())
        if isinstance(frozen, str):
            if frozen.lower() not in ('all', 'none'):
                raise ConfigError(f'frozen_layers must be "all", "none" or a list of layer names, got {frozen!r}')
            return list(children.values()) if frozen.lower() == 'all' else []
        unknown = [name for name in frozen if name not in children]
        if unknown:
            raise ConfigError(f'unknown frozen layers {unknown}; the layers are {list(children)}')
        return [children[name] for name in frozen]


def resnet50_lwdna(output_layers: Optional[Sequence[str]] = None, pretrained: Union[bool, str, os.PathLike] = False,
                   channel_config: Union[Widths, str, os.PathLike, None] = None,
                   frozen_layers: Union[str, Sequence[str]] = (), dilation_factor: int = 1) -> LWDNAResNet:
    """pytracking's ``resnet50(output_layers, pretrained, frozen_layers, ...)`` for LW-DNA widths.

    ``channel_config``: the widths JSON (dict or path) written by
    ``tools/export_dimp_backbone.py``; ``None`` takes the widths from the ``pretrained``
    weights, or the standard ResNet50 widths without weights. ``pretrained``: the path of
    exported weights (``.pth`` or ``.safetensors``), loaded strictly, or ``False``.
    """
    if pretrained is True:
        raise ConfigError('resnet50_lwdna: pretrained=True has no weights to download; pass the path of '
                          'weights written by tools/export_dimp_backbone.py (or False)')
    state_dict = read_state_dict(pretrained) if pretrained else None
    if channel_config is None:
        channel_config = widths_from_state_dict(state_dict) if state_dict is not None else baseline_widths()
    model = LWDNAResNet(channel_config, output_layers if output_layers is not None else ['default'],
                        frozen_layers, dilation_factor)
    if state_dict is not None:
        load_strict(model, state_dict, f'the weights {os.fspath(pretrained)!r} do not fit the channel config')
    return model


def _stage(in_channels: int, stage: Dict, stride: int, dilation: int) -> nn.Sequential:
    out = stage['out']
    downsample = nn.Sequential(nn.Conv2d(in_channels, out, kernel_size=1, stride=stride, bias=False),
                               nn.BatchNorm2d(out))
    blocks = []
    for b, (width1, width2) in enumerate(stage['blocks']):
        first = b == 0
        blocks.append(Bottleneck(in_channels if first else out, width1, width2, out, stride if first else 1,
                                 dilation if first else 1, downsample if first else None))
    return nn.Sequential(*blocks)


def _check_output_layers(layers: Sequence[str]) -> list:
    if isinstance(layers, str):
        raise ConfigError(f'output_layers must be a list of layer names, got the string {layers!r}')
    layers = list(layers)
    if layers == ['default']:
        return layers
    unknown = [name for name in layers if name not in LAYERS]
    if unknown or not layers:
        raise ConfigError(f'unknown output layers {unknown or layers}; choose from {list(LAYERS)} or ["default"]')
    return layers

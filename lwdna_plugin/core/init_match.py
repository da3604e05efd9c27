"""Initialise resized layers the way the architecture initialised its baseline layers.

A resized layer is created with PyTorch's default initialisation, which is not what most zoo
architectures use (basicsr's RRDBNet scales Kaiming by 0.1, timm and mmpretrain use Kaiming
normal with fan-out, zero-initialised last BatchNorms, ...). Where the zoo has an init method
(mmpretrain's ``init_weights``) it runs afterwards anyway; everywhere else this module gives each
resized parameter the distribution of the same parameter in the freshly built baseline:

- a constant parameter (BatchNorm weight 1 or 0, zero biases, a PReLU slope) keeps its value;
- otherwise the same family (normal, or uniform when the baseline's kurtosis says so) with the
  baseline's mean and the gain ``std² · fan`` of the baseline layer carried over to the new fan.
  Which fan (in or out) a model's init scales with is read from its own layers: the one under
  which ``std² · fan`` varies least across layers.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Tuple

import torch
import torch.nn as nn

from .layer_types import CONV_TYPES

UNIFORM_KURTOSIS = 2.4   # uniform: 1.8, normal: 3.0


def fans(weight: torch.Tensor) -> Tuple[int, int]:
    """(fan_in, fan_out) of a conv / linear weight, as torch.nn.init computes them."""
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def fan_mode(model: nn.Module) -> str:
    """'fan_in' or 'fan_out': the fan whose ``std² · fan`` is most constant over the model's
    conv / linear weights (Kaiming-style inits keep it constant for their mode)."""
    logs: Dict[str, list] = {'fan_in': [], 'fan_out': []}
    for module in model.modules():
        if isinstance(module, CONV_TYPES + (nn.Linear,)) and module.weight.numel() > 1:
            std = float(module.weight.detach().float().std())
            if std > 0:
                fan_in, fan_out = fans(module.weight)
                logs['fan_in'].append(math.log(std * std * fan_in))
                logs['fan_out'].append(math.log(std * std * fan_out))
    if len(logs['fan_in']) < 2:
        return 'fan_in'
    spread = {mode: float(torch.tensor(values).std()) for mode, values in logs.items()}
    return 'fan_out' if spread['fan_out'] < spread['fan_in'] else 'fan_in'


@torch.no_grad()
def match_baseline_init(baseline: nn.Module, resized: nn.Module, names: Iterable[str],
                        generator: Optional[torch.Generator] = None) -> None:
    """Redraw the parameters of the layers ``names`` of ``resized`` like those of ``baseline``
    (same module names, other widths)."""
    names = list(names)
    if not names:
        return
    mode = fan_mode(baseline)
    old_modules, new_modules = dict(baseline.named_modules()), dict(resized.named_modules())
    for name in names:
        old_layer, new_layer = old_modules[name], new_modules[name]
        for pname, new in new_layer.named_parameters(recurse=False):
            old = getattr(old_layer, pname, None)
            if old is None or old.numel() == 0:
                continue
            _redraw(new, old.detach().float(), _fan_ratio(old_layer, new_layer, pname, mode), generator)


def _fan_ratio(old_layer: nn.Module, new_layer: nn.Module, pname: str, mode: str) -> float:
    """baseline fan / new fan of the layer's weight (biases scale with their weight's fan)."""
    if not isinstance(old_layer, CONV_TYPES + (nn.Linear,)):
        return 1.0
    index = 0 if mode == 'fan_in' else 1
    return fans(old_layer.weight)[index] / max(fans(new_layer.weight)[index], 1)


def _redraw(param: torch.Tensor, reference: torch.Tensor, fan_ratio: float,
            generator: Optional[torch.Generator]) -> None:
    values = reference.flatten()
    mean = float(values.mean())
    std = float(values.std()) if values.numel() > 1 else 0.0
    if std <= 1e-12 * max(abs(mean), 1.0):
        param.fill_(float(values[0]))
        return
    std *= math.sqrt(fan_ratio)
    centred = (values - values.mean()) / values.std()
    kurtosis = float((centred ** 4).mean()) if values.numel() >= 16 else 3.0
    draw = torch.empty(param.shape, dtype=torch.float32)
    if kurtosis < UNIFORM_KURTOSIS:
        half_width = std * math.sqrt(3.0)
        draw.uniform_(mean - half_width, mean + half_width, generator=generator)
    else:
        draw.normal_(mean, std, generator=generator)
    param.copy_(draw.to(param.dtype))

"""Models the benchmarks compare: a shipped baseline config and its LW-DNA versions."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from lwdna_plugin import LWDNAConfig, ShrinkResult, shrink
from lwdna_plugin.data import digit_batches, photo_sr_batches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (config row under configs/baseline and configs/lwdna (configs/basicsr/... for SR), input size)
CASES: Dict[str, Tuple[str, int]] = {
    'resnet50-in1k': ('resnet50_in1k', 224),
    'regnetx400mf-cifar100': ('regnetx_400mf_cifar100', 32),
    'mobilenetv2-tinyimagenet': ('mobilenet_v2_tinyimagenet', 64),
    'deit-tiny-in1k': ('deit-tiny_4xb256_in1k', 224),
    'edsr-8x128-x4': ('edsr_8x128_x4_div2k', 48),   # LR input 48x48 (the paper's EDSR patch)
}


@dataclass
class Case:
    """``models``: 'baseline', 'lwdna' and 'lwdna_div8' (kept widths multiples of 8); what they
    were shrunk with, to shrink more versions (:meth:`shrink`)."""

    models: Dict[str, nn.Module]
    input_shape: Tuple[int, ...]
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    scoring_data: str
    batches: List
    loss_fn: Callable
    settings: Dict
    shrink_forward: Optional[Callable] = None
    make_optimizer: Optional[Callable] = None

    def shrink(self, **overrides) -> ShrinkResult:
        """The baseline shrunk with the LW-DNA config's settings, ``overrides`` replacing them
        (e.g. a latency target instead of the FLOPs target)."""
        settings = {k: v for k, v in self.settings.items() if not k.endswith(('_target', '_target_abs'))}
        cfg = LWDNAConfig.from_dict({**settings, **overrides})
        return shrink(self.models['baseline'], self.batches, self.loss_fn, cfg, forward_fn=self.shrink_forward,
                      make_optimizer=self.make_optimizer)


def lwdna_settings(row: str) -> Dict:
    """The ``lwdna`` block of ``configs/lwdna/<row>.py``."""
    from mmengine.config import Config

    return dict(Config.fromfile(os.path.join(ROOT, 'configs', 'lwdna', f'{row}.py')).model.lwdna)


def build_case(name: str, scoring_batch: int = 16) -> Case:
    """Baseline from ``configs/baseline/<row>.py``; LW-DNA by shrinking it with the LW-DNA
    config's settings on embedded digits at the model's input size."""
    import lwdna_plugin.mmpretrain  # noqa: F401  (registers the plugin's backbones)
    from lwdna_plugin.mmpretrain.builder import build_classifier_from_config
    from lwdna_plugin.mmpretrain.model import tensor_forward

    row, size = CASES[name]
    if name.startswith('edsr'):
        return build_sr_case(row, size, scoring_batch)
    torch.manual_seed(0)
    baseline = build_classifier_from_config(os.path.join(ROOT, 'configs', 'baseline', f'{row}.py'))
    settings = lwdna_settings(row)
    batches = digit_batches(size, scoring_batch, settings.get('num_batches', 2))
    models = lwdna_variants(baseline, batches, F.cross_entropy, settings, tensor_forward)
    return Case(models, (1, 3, size, size), tensor_forward, f'digits {size}x{size}', batches, F.cross_entropy,
                settings, tensor_forward)


def lwdna_variants(baseline: nn.Module, batches, loss_fn, settings: Dict,
                   forward_fn=None, make_optimizer=None) -> Dict[str, nn.Module]:
    """The baseline and its LW-DNA models with ``settings``: free widths, and multiples of 8."""
    models = {'baseline': baseline}
    for key, divisor in (('lwdna', 1), ('lwdna_div8', 8)):
        cfg = LWDNAConfig.from_dict({**settings, 'channel_divisor': divisor})
        models[key] = shrink(baseline, batches, loss_fn, cfg, forward_fn=forward_fn,
                             make_optimizer=make_optimizer).model
    return models


def sr_option(kind: str, row: str) -> Dict:
    """``configs/basicsr/<kind>/<row>.yml`` as a dict."""
    import yaml

    with open(os.path.join(ROOT, 'configs', 'basicsr', kind, f'{row}.yml')) as f:
        return yaml.safe_load(f)


def build_restoration_network(row: str) -> nn.Module:
    """basicsr's ``network_g`` of ``configs/basicsr/baseline/<row>.yml`` (plugin archs included)."""
    import lwdna_plugin.basicsr  # noqa: F401  (import shim, DnCNN / U-Net registered)
    from basicsr.archs import build_network

    torch.manual_seed(0)
    return build_network(sr_option('baseline', row)['network_g'])


def build_sr_case(row: str, size: int, scoring_batch: int) -> Case:
    """basicsr network from ``configs/basicsr/baseline/<row>.yml``; LW-DNA with the ``lwdna:``
    block of ``configs/basicsr/lwdna/<row>.yml``, scored with L1 on photographs, the search
    steps taken by the option file's own optimizer (as the basicsr adapter does)."""
    from lwdna_plugin.basicsr.model import run_optimizer

    baseline = build_restoration_network(row)
    option = sr_option('lwdna', row)
    settings, make_optimizer = option['lwdna'], run_optimizer(option)
    batches = photo_sr_batches(size, sr_option('baseline', row)['scale'], scoring_batch,
                               settings.get('num_batches', 2))
    models = lwdna_variants(baseline, batches, F.l1_loss, settings, make_optimizer=make_optimizer)
    return Case(models, (1, 3, size, size), lambda model, x: model(x), f'photographs, LR {size}x{size}', batches,
                F.l1_loss, settings, make_optimizer=make_optimizer)

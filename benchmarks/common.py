"""Models the benchmarks compare: a shipped baseline config and its LW-DNA versions."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from lwdna_plugin import LWDNAConfig, shrink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (config row under configs/baseline and configs/lwdna (configs/basicsr/... for SR), input size)
CASES: Dict[str, Tuple[str, int]] = {
    'resnet50-in1k': ('resnet50_in1k', 224),
    'regnetx400mf-cifar100': ('regnetx_400mf_cifar100', 32),
    'mobilenetv2-tinyimagenet': ('mobilenet_v2_tinyimagenet', 64),
    'edsr-8x128-x4': ('edsr_8x128_x4_div2k', 48),   # LR input 48x48 (the paper's EDSR patch)
}


@dataclass
class Case:
    """``models``: 'baseline', 'lwdna' and 'lwdna_div8' (kept widths multiples of 8)."""

    models: Dict[str, nn.Module]
    input_shape: Tuple[int, ...]
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    scoring_data: str


def digit_batches(size: int, batch: int, count: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """``count`` real training batches of the embedded digits at ``size``×``size``."""
    from lwdna_plugin.data import DigitsDataset

    ds = DigitsDataset('train', size=size)
    return [(ds.images[i * batch:(i + 1) * batch], ds.targets[i * batch:(i + 1) * batch]) for i in range(count)]


def photo_sr_batches(lr_size: int, scale: int, batch: int, count: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """``count`` (LR, HR) batches: random HR crops of scikit-image's photographs, bicubic LR."""
    import numpy as np
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(0)
    size = lr_size * scale
    hr = []
    for i in range(batch * count):
        img = photos[i % len(photos)]
        y, x = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
        hr.append(torch.from_numpy(img[y:y + size, x:x + size].astype('float32') / 255).permute(2, 0, 1))
    hr = torch.stack(hr)
    lr = F.interpolate(hr, scale_factor=1 / scale, mode='bicubic', antialias=True, align_corners=False).clamp(0, 1)
    return [(lr[i * batch:(i + 1) * batch], hr[i * batch:(i + 1) * batch]) for i in range(count)]


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
    models = {'baseline': baseline}
    for key, divisor in (('lwdna', 1), ('lwdna_div8', 8)):
        cfg = LWDNAConfig.from_dict({**settings, 'channel_divisor': divisor})
        models[key] = shrink(baseline, batches, F.cross_entropy, cfg, forward_fn=tensor_forward).model
    return Case(models, (1, 3, size, size), tensor_forward, f'digits {size}x{size}')


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


def photo_denoise_batches(size: int, sigma: float, batch: int, count: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """``count`` (noisy, clean) batches of gray ``size``² crops of scikit-image's photographs."""
    gray = photo_sr_batches(size, 1, batch, count)
    rng = torch.Generator().manual_seed(0)
    out = []
    for _, clean in gray:
        clean = (clean * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
        out.append((clean + torch.randn(clean.shape, generator=rng) * sigma / 255, clean))
    return out


def build_sr_case(row: str, size: int, scoring_batch: int) -> Case:
    """basicsr network from ``configs/basicsr/baseline/<row>.yml``; LW-DNA with the ``lwdna:``
    block of ``configs/basicsr/lwdna/<row>.yml``, scored with L1 on photographs."""
    baseline = build_restoration_network(row)
    settings = sr_option('lwdna', row)['lwdna']
    batches = photo_sr_batches(size, sr_option('baseline', row)['scale'], scoring_batch,
                               settings.get('num_batches', 2))
    models = {'baseline': baseline}
    for key, divisor in (('lwdna', 1), ('lwdna_div8', 8)):
        cfg = LWDNAConfig.from_dict({**settings, 'channel_divisor': divisor})
        models[key] = shrink(baseline, batches, F.l1_loss, cfg).model
    return Case(models, (1, 3, size, size), lambda model, x: model(x), f'photographs, LR {size}x{size}')

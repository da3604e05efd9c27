#!/usr/bin/env python
"""Side by side with the authors' code: which ImageNet ResNet50 does each implementation pick
on the same batches?

The authors' repository (ofsoundof/Heterogeneity_Hypothesis) is *not* part of this project:
clone or fetch it anywhere and pass its path. This script imports its model files
(``model_dhp/resnet_imagenet_dhp.py``, ``dhp_base.py``, ``flops_counter_dhp.py``) and drives
them as ``main_hh_grad.py`` + ``util/trainer_hh_grad.py`` do for the searching stage (the
trainer and data code need ImageNet and CUDA, so their loop is followed here, step for step):
width ×2, embedding_dim 2, ρ 0.4, τ 0.45, two scoring batches, each zero_grad → forward in
train mode → cross-entropy → backward → SGD step (lr 0.1, momentum 0.9, weight decay 1e-4, all
parameters), then their FLOPs step search to 0.23 of the widened network (stop 0.001, ≤ 100
iterations) with their mask (latent magnitudes, floors ``int(n·ρ)``, ``int(n·τ)``).

The plugin runs ``configs/lwdna/resnet50_in1k.py``'s settings on the same images. Both get
the same 224² batches: crops of scikit-image's photographs (the authors use the first quarter
of each 256-image ImageNet batch; here 16 images each), labelled by photograph.

    python benchmarks/reference_fidelity.py --reference /path/to/Heterogeneity_Hypothesis
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
import types
from types import SimpleNamespace
from typing import Dict, List

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from lwdna_plugin.data.photos import PHOTOS, photo_crops  # noqa: E402

STAGES = (3, 4, 6, 3)


def batches(size: int, batch: int, count: int = 2):
    """``count`` batches of ``batch`` 224² photo crops, labelled by photograph."""
    crops = photo_crops(size, batch * count, seed=0)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    labels = torch.arange(batch * count) % len(PHOTOS)
    x = (crops - mean) / std
    return [(x[i * batch:(i + 1) * batch], labels[i * batch:(i + 1) * batch]) for i in range(count)]


def layer_names() -> List[str]:
    """The conv layers compared, in network order (mmpretrain's names)."""
    names = ['conv1']
    for s, n in enumerate(STAGES, 1):
        for b in range(n):
            names += [f'layer{s}.{b}.conv1', f'layer{s}.{b}.conv2', f'layer{s}.{b}.conv3']
            if b == 0:
                names.append(f'layer{s}.0.downsample.0')
    return names


# -- the authors' code ----------------------------------------------------------------------------

def load_reference(path: str):
    sys.path.insert(0, path)
    if 'IPython' not in sys.modules:   # imported, never used at run time
        sys.modules['IPython'] = types.SimpleNamespace(embed=lambda *a, **k: None)
    from model_dhp import flops_counter_dhp
    from model_dhp.resnet_imagenet_dhp import ResNet_ImageNet_DHP
    return ResNet_ImageNet_DHP, flops_counter_dhp


def reference_args(width_mult: float) -> SimpleNamespace:
    return SimpleNamespace(width_mult=width_mult, depth=50, linear_percentage=0.45, remain_percentage=0.4,
                           embedding_dim=2, kernel_size=3, n_colors=3, data_train='ImageNet', prune_threshold=5e-3,
                           regularization_factor=1e-4, mc=4, grad_prune=True, grad_normalize=False)


class _CpuOnesLike:
    """Their masks ask for ``device='cuda'``; on a machine without CUDA give CPU tensors."""

    def __enter__(self):
        self.original = torch.ones_like

        def ones_like(t, *args, **kwargs):
            if kwargs.get('device') == 'cuda' and not torch.cuda.is_available():
                kwargs['device'] = t.device
            return self.original(t, *args, **kwargs)
        torch.ones_like = ones_like

    def __exit__(self, *exc):
        torch.ones_like = self.original


def run_reference(path: str, data, seed: int) -> Dict:
    ResNet, counter = load_reference(path)
    size = (3, data[0][0].shape[-1], data[0][0].shape[-1])
    baseline = ResNet(reference_args(1.0))
    counter.set_output_dimension(baseline, size)
    base_flops, base_params = counter.get_flops(baseline), counter.get_parameters(baseline)
    del baseline

    torch.manual_seed(seed)
    model = ResNet(reference_args(2.0))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9,
                                weight_decay=1e-4)
    model.train()
    start = time.perf_counter()
    for x, y in data:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    counter.set_output_dimension(model, size)
    wide_flops = counter.get_flops(model)
    with _CpuOnesLike(), torch.no_grad():
        step_search(model, counter, wide_flops, target=0.23)
    seconds = time.perf_counter() - start
    convs = [model.features[0]] + [conv for block in model.features[2:]
                                   for conv in (block.layer1, block.layer2, block.layer3, block.downsample)
                                   if conv is not None]
    ratios = [2 * c.out_channels_remain / c.out_channels for c in convs]
    return {'flops': counter.get_flops(model) / base_flops, 'params': counter.get_parameters(model) / base_params,
            'ratios': np.asarray(ratios), 'seconds': seconds}


def step_search(model, counter, full: float, target: float, stop: float = 1e-3, max_iter: int = 100) -> None:
    """Their threshold search (facts from main_hh_grad.py): start at the model's threshold with
    step 0.01, move it up while the FLOPs ratio is above the target and down while below,
    halve the step whenever the ratio crosses the target, stop within ``stop``."""
    step, status, counter_i = 0.01, 1.0, 1
    while abs(status - target) > stop and counter_i <= max_iter:
        previous = status
        model.set_parameters()
        status = counter.get_flops(model) / full
        if abs(status - target) <= stop:
            break
        if counter_i > 1 and (previous >= target) == (status < target):
            step /= 2
        model.pt = model.pt + step if status > target else max(model.pt - step, 0)
        counter_i += 1
        if model.pt < 0 or status <= 0:
            break


# -- the plugin -----------------------------------------------------------------------------------

def run_plugin(data, seed: int) -> Dict:
    from benchmarks.common import lwdna_settings
    from lwdna_plugin import LWDNAConfig, shrink
    from lwdna_plugin.mmpretrain.builder import build_classifier_from_config
    from lwdna_plugin.mmpretrain.model import tensor_forward

    torch.manual_seed(seed)
    baseline = build_classifier_from_config(os.path.join(ROOT, 'configs', 'baseline', 'resnet50_in1k.py'))
    cfg = LWDNAConfig.from_dict({**lwdna_settings('resnet50_in1k'), 'seed': seed})
    start = time.perf_counter()
    result = shrink(baseline, data, F.cross_entropy, cfg, forward_fn=tensor_forward)
    seconds = time.perf_counter() - start
    widths = {r['layer'].removeprefix('backbone.'): r for r in result.table}
    ratios = [widths[name]['lwdna'] / widths[name]['baseline'] for name in layer_names()]
    c = result.channel_config
    return {'flops': c['flops']['lwdna'] / c['flops']['baseline'], 'params': c['params']['lwdna'] / c['params']['baseline'],
            'ratios': np.asarray(ratios), 'seconds': seconds}


# -- statistics -----------------------------------------------------------------------------------

def pairwise(a: List[Dict], b: List[Dict], same: bool):
    pairs = itertools.combinations(a, 2) if same else itertools.product(a, b)
    rho, delta = [], []
    for x, y in pairs:
        rho.append(spearmanr(x['ratios'], y['ratios'])[0])
        delta.append(float(np.mean(np.abs(x['ratios'] - y['ratios']))))
    return float(np.mean(rho)), float(np.mean(delta))


def report(ref: List[Dict], ours: List[Dict]) -> str:
    def mean_std(runs, key):
        v = np.asarray([r[key] for r in runs]) * 100
        return f'{v.mean():.1f} ± {v.std():.1f} %'

    lines = ['| ImageNet ResNet50, same 224² photo batches | FLOPs ratio | params ratio | search time (s) |',
             '|---|---:|---:|---:|']
    for name, runs in (("authors' code", ref), ('lwdna_plugin', ours)):
        lines.append(f'| {name}, {len(runs)} seeds | {mean_std(runs, "flops")} | {mean_std(runs, "params")} '
                     f'| {np.mean([r["seconds"] for r in runs]):.0f} |')
    lines += ['', '| per-layer keep ratios | mean Spearman | mean \\|Δ\\| |', '|---|---:|---:|']
    for name, stats in (("authors' code, seed vs seed", pairwise(ref, ref, True)),
                        ('lwdna_plugin, seed vs seed', pairwise(ours, ours, True)),
                        ("authors' code vs lwdna_plugin", pairwise(ref, ours, False))):
        lines.append(f'| {name} | {stats[0]:.2f} | {stats[1]:.3f} |')
    names = layer_names()
    lines += ['', '| layer | ' + ' | '.join(names[i] for i in (0, 1, 2, 3, 20, 40, -2)) + ' |',
              '|---|' + '---:|' * 7]
    for name, runs in (("authors'", ref), ('plugin', ours)):
        mean = np.mean([r['ratios'] for r in runs], axis=0)
        lines.append(f'| {name} | ' + ' | '.join(f'{mean[i]:.2f}' for i in (0, 1, 2, 3, 20, 40, -2)) + ' |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reference', required=True, help="path of the authors' repository (a checkout)")
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--batch', type=int, default=16, help='images per scoring batch (their quarter batch)')
    p.add_argument('--size', type=int, default=224)
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    data = batches(args.size, args.batch)
    ref, ours = [], []
    for seed in args.seeds:
        ref.append(run_reference(args.reference, data, seed))
        print(f"authors' code, seed {seed}: FLOPs {ref[-1]['flops']:.4f}, params {ref[-1]['params']:.4f}", flush=True)
        ours.append(run_plugin(data, seed))
        print(f"lwdna_plugin, seed {seed}: FLOPs {ours[-1]['flops']:.4f}, params {ours[-1]['params']:.4f}", flush=True)
    print(report(ref, ours))


if __name__ == '__main__':
    main()

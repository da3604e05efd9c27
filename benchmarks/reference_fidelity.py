#!/usr/bin/env python
"""Side by side with the authors' code: which LW-DNA network does each implementation pick on
the same batches? ImageNet ResNet50 and CIFAR-100 RegNetX-400MF.

The authors' repository (ofsoundof/Heterogeneity_Hypothesis) is *not* part of this project:
clone or fetch it anywhere and pass its path. This script imports its model files and drives
them as ``main_hh_grad.py`` + ``util/trainer_hh_grad.py`` do for the searching stage (the
trainer and data code need the datasets and CUDA, so their loop is followed here, step for
step): width ×2, ρ 0.4, τ 0.45, two scoring batches, each zero_grad → forward in train mode →
cross-entropy → backward → SGD step (lr 0.1, momentum 0.9, weight decay 1e-4, all parameters),
then their FLOPs step search (stop 0.001, ≤ 100 iterations) with their masks (floors
``int(n·ρ)``, ``int(n·τ)``):

- ResNet50 (``model_dhp/resnet_imagenet_dhp.py``): embedding_dim 2, latent magnitudes, ratio
  0.23 of the widened network; batches of 16 224² images (their quarter of a 64-image batch);
- RegNetX-400MF (``model_dhp/regnet_dhp.py``, CIFAR-100): embedding_dim 8, the gradient of the
  last batch (``grad_prune``), Table 1's 0.9813 of the baseline FLOPs; batches of 64 32² images.
  That file imports ``conv_bn_act`` from ``model_dhp/efficientnet_dhp.py``, which is in neither
  the repository nor its history; its only definition is the authors' own, commented out in
  ``model_dhp/regnet_imagenet_dhp.py``. This script builds that module in memory from their
  commented lines, with one change: its ``conv_dhp`` call passes ``batchnorm`` and ``act`` by
  keyword (``conv_dhp`` later gained a ``prune_groups`` parameter before them). Nothing is
  written into their checkout.

The plugin runs ``configs/lwdna/<row>.py``'s settings on the same images: crops of
scikit-image's photographs, labelled by photograph.

    python benchmarks/reference_fidelity.py --reference /path/to/Heterogeneity_Hypothesis [--model regnetx400mf]
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
import types
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Dict, List

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from lwdna_plugin.data.photos import PHOTOS, photo_crops  # noqa: E402

RESNET50_STAGES = (3, 4, 6, 3)
REGNETX_400MF_DEPTHS = (1, 2, 7, 12)


@dataclass
class Model:
    """One comparison: the plugin's config row, the data, and how to drive the authors' file."""

    row: str                    # configs/{baseline,lwdna}/<row>.py
    size: int                   # input side
    batch: int                  # images per scoring batch
    num_classes: int
    layers: List[str]           # the compared convs, mmpretrain names in network order
    reference_args: Callable[[float], SimpleNamespace]
    load: Callable[[str], Any]  # reference path -> the authors' model class
    target: Callable[[float, float], float]   # (baseline FLOPs, widened FLOPs) -> their --ratio
    convs: Callable[[Any], List[Any]]         # the authors' model -> its convs in ``layers`` order


def resnet50_layers() -> List[str]:
    names = ['conv1']
    for s, n in enumerate(RESNET50_STAGES, 1):
        for b in range(n):
            names += [f'layer{s}.{b}.conv1', f'layer{s}.{b}.conv2', f'layer{s}.{b}.conv3']
            if b == 0:
                names.append(f'layer{s}.0.downsample.0')
    return names


def regnet_layers() -> List[str]:
    names = ['conv1']
    for s, n in enumerate(REGNETX_400MF_DEPTHS, 1):
        for b in range(n):
            names += [f'layer{s}.{b}.conv1', f'layer{s}.{b}.conv2', f'layer{s}.{b}.conv3']
            if b == 0 and s > 1:   # stage 1 keeps its width at stride 1 on CIFAR: no projection
                names.append(f'layer{s}.0.downsample.0')
    return names


def _common_args(width_mult: float, **kwargs) -> SimpleNamespace:
    return SimpleNamespace(width_mult=width_mult, linear_percentage=0.45, remain_percentage=0.4, n_colors=3,
                           kernel_size=3, prune_threshold=5e-3, regularization_factor=1e-4, mc=4,
                           grad_normalize=False, **kwargs)


def _import_reference(path: str) -> None:
    if path not in sys.path:
        sys.path.insert(0, path)
    if 'IPython' not in sys.modules:   # imported, never used at run time
        sys.modules['IPython'] = types.SimpleNamespace(embed=lambda *a, **k: None)


def load_resnet50(path: str):
    _import_reference(path)
    from model_dhp.resnet_imagenet_dhp import ResNet_ImageNet_DHP
    return ResNet_ImageNet_DHP


def load_regnet(path: str):
    """``RegNet_DHP`` of ``model_dhp/regnet_dhp.py``, with the missing ``efficientnet_dhp`` module
    built in memory from the authors' commented-out ``conv_bn_act`` (see the module docstring)."""
    _import_reference(path)
    if 'model_dhp.efficientnet_dhp' not in sys.modules:
        with open(os.path.join(path, 'model_dhp', 'regnet_imagenet_dhp.py')) as f:
            lines = f.read().splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith('# class conv_bn_act'))
        block = list(itertools.takewhile(lambda line: line.startswith('#'), lines[start:]))
        source = '\n'.join(line[2:] if line.startswith('# ') else line[1:] for line in block)
        positional = 'kernel_size, stride, bias, groups, batchnorm, act_use,'
        if positional not in source:
            raise SystemExit("the authors' commented conv_bn_act is not as expected; check their file")
        source = source.replace(positional, 'kernel_size, stride, bias, groups, batchnorm=batchnorm, act=act_use,')
        module = types.ModuleType('model_dhp.efficientnet_dhp')
        exec('from model_dhp.dhp_base import conv_dhp, addindent\n' + source, module.__dict__)
        sys.modules['model_dhp.efficientnet_dhp'] = module
    from model_dhp.regnet_dhp import RegNet_DHP
    return RegNet_DHP


def resnet50_convs(model) -> List[Any]:
    return [model.features[0]] + [conv for block in model.features[2:]
                                  for conv in (block.layer1, block.layer2, block.layer3, block.downsample)
                                  if conv is not None]


def regnet_convs(model) -> List[Any]:
    return [model.features[0]] + [conv for block in model.features[1:]
                                  for conv in (block.layer1, block.layer2, block.layer3, block.skip_proj)
                                  if conv is not None]


MODELS = {
    'resnet50': Model('resnet50_in1k', 224, 16, 1000, resnet50_layers(),
                      lambda w: _common_args(w, depth=50, embedding_dim=2, data_train='ImageNet', grad_prune=True),
                      load_resnet50, lambda base, wide: 0.23, resnet50_convs),
    'regnetx400mf': Model('regnetx_400mf_cifar100', 32, 64, 100, regnet_layers(),
                          lambda w: _common_args(w, regime='x_400mf', embedding_dim=8, data_train='CIFAR100',
                                                 grad_prune=True),
                          load_regnet, lambda base, wide: 0.9813 * base / wide, regnet_convs),
}


def batches(size: int, batch: int, count: int = 2):
    """``count`` batches of ``batch`` photo crops of ``size``², labelled by photograph."""
    crops = photo_crops(size, batch * count, seed=0)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    labels = torch.arange(batch * count) % len(PHOTOS)
    x = (crops - mean) / std
    return [(x[i * batch:(i + 1) * batch], labels[i * batch:(i + 1) * batch]) for i in range(count)]


# -- the authors' code ----------------------------------------------------------------------------

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


def run_reference(spec: Model, path: str, data, seed: int) -> Dict:
    Net = spec.load(path)
    from model_dhp import flops_counter_dhp as counter
    size = (3, spec.size, spec.size)
    baseline = Net(spec.reference_args(1.0))
    counter.set_output_dimension(baseline, size)
    base_flops, base_params = counter.get_flops(baseline), counter.get_parameters(baseline)
    del baseline

    torch.manual_seed(seed)
    model = Net(spec.reference_args(2.0))
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
        step_search(model, counter, wide_flops, target=spec.target(base_flops, wide_flops))
    seconds = time.perf_counter() - start
    ratios = [2 * c.out_channels_remain / c.out_channels for c in spec.convs(model)]
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

def run_plugin(spec: Model, data, seed: int) -> Dict:
    from benchmarks.common import lwdna_settings
    from lwdna_plugin import LWDNAConfig, shrink
    from lwdna_plugin.mmpretrain.builder import build_classifier_from_config
    from lwdna_plugin.mmpretrain.model import tensor_forward

    torch.manual_seed(seed)
    baseline = build_classifier_from_config(os.path.join(ROOT, 'configs', 'baseline', f'{spec.row}.py'))
    cfg = LWDNAConfig.from_dict({**lwdna_settings(spec.row), 'seed': seed})
    start = time.perf_counter()
    result = shrink(baseline, data, F.cross_entropy, cfg, forward_fn=tensor_forward)
    seconds = time.perf_counter() - start
    widths = {r['layer'].removeprefix('backbone.'): r for r in result.table}
    ratios = [widths[name]['lwdna'] / widths[name]['baseline'] for name in spec.layers]
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


def report(spec: Model, name: str, ref: List[Dict], ours: List[Dict]) -> str:
    def mean_std(runs, key):
        v = np.asarray([r[key] for r in runs]) * 100
        return f'{v.mean():.1f} ± {v.std():.1f} %'

    lines = [f'| {name}, same {spec.size}² photo batches | FLOPs ratio | params ratio | search time (s) |',
             '|---|---:|---:|---:|']
    for name, runs in (("authors' code", ref), ('lwdna_plugin', ours)):
        lines.append(f'| {name}, {len(runs)} seeds | {mean_std(runs, "flops")} | {mean_std(runs, "params")} '
                     f'| {np.mean([r["seconds"] for r in runs]):.0f} |')
    lines += ['', '| per-layer keep ratios | mean Spearman | mean \\|Δ\\| |', '|---|---:|---:|']
    for name, stats in (("authors' code, seed vs seed", pairwise(ref, ref, True)),
                        ('lwdna_plugin, seed vs seed', pairwise(ours, ours, True)),
                        ("authors' code vs lwdna_plugin", pairwise(ref, ours, False))):
        lines.append(f'| {name} | {stats[0]:.2f} | {stats[1]:.3f} |')
    names = spec.layers
    shown = (0, 1, 2, 3, len(names) // 3, 2 * len(names) // 3, -2)
    lines += ['', '| layer | ' + ' | '.join(names[i] for i in shown) + ' |',
              '|---|' + '---:|' * 7]
    for name, runs in (("authors'", ref), ('plugin', ours)):
        mean = np.mean([r['ratios'] for r in runs], axis=0)
        lines.append(f'| {name} | ' + ' | '.join(f'{mean[i]:.2f}' for i in shown) + ' |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument('--reference', required=True, help="path of the authors' repository (a checkout)")
    p.add_argument('--model', choices=sorted(MODELS), nargs='+', default=sorted(MODELS))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    for name in args.model:
        spec = MODELS[name]
        data = batches(spec.size, spec.batch)
        ref, ours = [], []
        for seed in args.seeds:
            ref.append(run_reference(spec, args.reference, data, seed))
            print(f"{name}: authors' code, seed {seed}: FLOPs {ref[-1]['flops']:.4f}, params {ref[-1]['params']:.4f}",
                  flush=True)
            ours.append(run_plugin(spec, data, seed))
            print(f"{name}: lwdna_plugin, seed {seed}: FLOPs {ours[-1]['flops']:.4f}, params {ours[-1]['params']:.4f}",
                  flush=True)
        print(report(spec, name, ref, ours), flush=True)

if __name__ == '__main__':
    main()

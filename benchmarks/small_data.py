#!/usr/bin/env python
"""The controlled small-data experiment: baseline, baseline + KD, LW-DNA and LW-DNA + KD on the
embedded digits with the project's mmpretrain demo configs (CIFAR-style ResNet18, width 16, the
paper's CIFAR protocol shortened to 24 epochs), same protocol for all, several seeds.

Every run is a real ``tools/train.py`` training; the KD runs use the baseline of the same seed
as teacher. Prints mean ± std top-1 (validation split), FLOPs, params, and the shrink stage's
wall time against the whole run's. The same for super-resolution: the basicsr EDSR demo
(baseline vs LW-DNA at 90 % FLOPs, ``tools/train_basicsr.py``) on the scikit-image photographs,
PSNR on the held-out photographs.

    python benchmarks/small_data.py                       # 3 seeds, about 40 minutes on 2 cores
    python benchmarks/small_data.py --parts sr            # only the super-resolution part
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

VARIANTS = {  # name: (config, lwdna options prefix or None, KD?)
    'baseline': ('configs/baseline/demo_digits.py', None, False),
    'baseline + KD': ('configs/baseline/demo_digits_kd.py', None, True),
    'LW-DNA': ('configs/lwdna/demo_digits.py', 'model.lwdna', False),
    'LW-DNA + KD': ('configs/lwdna/demo_digits_kd.py', 'model.student.lwdna', True),
}


def run_tool(tool: str, *args: str) -> Tuple[str, float]:
    """Run ``tools/<tool>`` from the repository root: its log (stdout + stderr) and wall time;
    stops the benchmark with the log's tail if it fails."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, f'tools/{tool}', *args], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f'{tool} {" ".join(args)} failed:\n{log[-3000:]}')
    return log, wall


def train(config: str, work_dir: str, options: List[str]) -> Dict[str, float]:
    """Run ``tools/train.py``; the last validation top-1 and the wall time."""
    log, wall = run_tool('train.py', config, '--work-dir', work_dir, '--cfg-options', *options)
    return {'top1': float(re.findall(r'accuracy/top1: ([0-9.]+)', log)[-1]), 'wall_s': wall}


SR_VARIANTS = {'EDSR baseline': 'configs/basicsr/baseline/demo_edsr_x4.yml',
               'EDSR LW-DNA': 'configs/basicsr/lwdna/demo_edsr_x4.yml'}


def train_sr(option: str, name: str, seed: int, out: str) -> Dict[str, float]:
    """Run ``tools/train_basicsr.py`` on a copy of the option file with this seed (basicsr seeds its
    RNGs before applying ``--force_yml``, so the seed must be in the file); the last validation
    PSNR, wall time and, for LW-DNA, the channel config's figures."""
    import yaml

    with open(os.path.join(ROOT, option)) as f:
        opt = yaml.safe_load(f)
    opt.update(name=name, manual_seed=seed)
    if 'lwdna' in opt:
        opt['lwdna']['seed'] = seed
    os.makedirs(out, exist_ok=True)
    seeded = os.path.abspath(os.path.join(out, f'{name}.yml'))
    with open(seeded, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    log, wall = run_tool('train_basicsr.py', '-opt', seeded)
    result = {'psnr': float(re.findall(r'# psnr: ([0-9.]+)', log)[-1]), 'wall_s': wall}
    if 'lwdna' in opt:
        cfg = json.load(open(os.path.join(ROOT, 'experiments', name, 'lwdna_channels.json')))
        result.update(flops_ratio=cfg['flops']['lwdna'] / cfg['flops']['baseline'],
                      params=cfg['params']['lwdna'], shrink_s=cfg['timings']['total_s'])
    return result


def run_sr(seeds: List[int], out: str) -> Dict[str, List[Dict[str, float]]]:
    if not os.path.isdir(os.path.join(ROOT, 'data', 'restoration_demo')):
        subprocess.run([sys.executable, 'tools/make_restoration_demo_data.py'], cwd=ROOT, check=True)
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in SR_VARIANTS}
    for seed in seeds:
        for name, option in SR_VARIANTS.items():
            tag = f'small_data_{name.replace(" ", "_").replace("-", "").lower()}_seed{seed}'
            result = train_sr(option, tag, seed, out)
            runs[name].append({'seed': seed, **result})
            print(f'{name:14s} seed {seed}: PSNR {result["psnr"]:.3f} dB, {result["wall_s"]:.0f} s', flush=True)
    return runs


def print_sr(runs: Dict[str, List[Dict[str, float]]], seeds: List[int]) -> None:
    print(f'\nseeds {seeds}; EDSR demo (4 blocks x 32 channels, x4, 500 iterations of batch 16); '
          'PSNR (dB) on the held-out photographs')
    print('| variant | PSNR per seed | mean ± std | FLOPs ratio | shrink (s) | run wall (s) |')
    print('|---|---|---:|---:|---:|---:|')
    for name, rs in runs.items():
        psnr = [r['psnr'] for r in rs]
        std = statistics.stdev(psnr) if len(psnr) > 1 else 0.0
        ratio = statistics.mean(r.get('flops_ratio', 1.0) for r in rs)
        print(f"| {name} | {' / '.join(f'{p:.3f}' for p in psnr)} | {statistics.mean(psnr):.3f} ± {std:.3f} "
              f"| {ratio:.4f} | {statistics.mean(r.get('shrink_s', 0.0) for r in rs):.1f} "
              f"| {statistics.mean(r['wall_s'] for r in rs):.0f} |")


def baseline_cost() -> Dict[str, float]:
    """FLOPs and params of the baseline demo network at the config's input size."""
    from mmengine.config import Config

    from lwdna_plugin import count_flops_params
    from lwdna_plugin.mmpretrain.builder import build_classifier_from_config
    from lwdna_plugin.mmpretrain.model import tensor_forward

    path = os.path.join(ROOT, VARIANTS['baseline'][0])
    size = Config.fromfile(path).train_dataloader.dataset.size
    flops, params = count_flops_params(build_classifier_from_config(path), input_shape=(1, 3, size, size),
                                       forward_fn=tensor_forward)
    return {'flops': flops, 'params': params}


def run_digits(seeds: List[int], out: str) -> Dict[str, List[Dict[str, float]]]:
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in VARIANTS}
    for seed in seeds:
        teacher = os.path.join(out, f'baseline_seed{seed}', 'epoch_24.pth')
        for name, (config, lwdna, kd) in VARIANTS.items():
            work_dir = os.path.join(out, f'{name.replace(" + ", "_").replace("-", "").lower()}_seed{seed}')
            options = [f'randomness.seed={seed}']
            if lwdna:
                options.append(f'{lwdna}.seed={seed}')
            if kd:
                options.append(f'model.teacher.checkpoint={teacher}')
            result = train(config, work_dir, options)
            channels = os.path.join(work_dir, 'lwdna_channels.json')
            if os.path.isfile(channels):
                cfg = json.load(open(channels))
                result.update(flops=cfg['flops']['lwdna'], params=cfg['params']['lwdna'],
                              shrink_s=cfg['timings']['total_s'])
            else:
                result.update(baseline_cost(), shrink_s=0.0)
            runs[name].append({'seed': seed, **result})
            print(f'{name:14s} seed {seed}: top-1 {result["top1"]:.2f} %, {result["wall_s"]:.0f} s', flush=True)
    return runs


def print_digits(runs: Dict[str, List[Dict[str, float]]], seeds: List[int]) -> None:
    print(f'\nseeds {seeds}; digits validation split (359 images); top-1 %')
    print('| variant | top-1 per seed | mean ± std | MFLOPs | params (M) | shrink (s) | run wall (s) |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for name, rs in runs.items():
        top1 = [r['top1'] for r in rs]
        std = statistics.stdev(top1) if len(top1) > 1 else 0.0
        print(f"| {name} | {' / '.join(f'{t:.2f}' for t in top1)} | {statistics.mean(top1):.2f} ± {std:.2f} "
              f"| {statistics.mean(r['flops'] for r in rs) / 1e6:.2f} "
              f"| {statistics.mean(r['params'] for r in rs) / 1e6:.4f} "
              f"| {statistics.mean(r['shrink_s'] for r in rs):.1f} | {statistics.mean(r['wall_s'] for r in rs):.0f} |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--parts', nargs='+', default=['digits', 'sr'], choices=['digits', 'sr'])
    p.add_argument('--out', default='work_dirs/small_data', help='work dirs and results.json go here')
    args = p.parse_args(argv)
    import lwdna_plugin.mmpretrain  # noqa: F401

    results = {}
    if 'digits' in args.parts:
        results['digits'] = run_digits(args.seeds, args.out)
    if 'sr' in args.parts:
        results['sr'] = run_sr(args.seeds, args.out)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    if 'digits' in results:
        print_digits(results['digits'], args.seeds)
    if 'sr' in results:
        print_sr(results['sr'], args.seeds)


if __name__ == '__main__':
    main()

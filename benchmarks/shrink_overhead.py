#!/usr/bin/env python
"""Cost of the shrink stage relative to one baseline training iteration on the same batch.

For each model: wall time of the whole ``shrink`` call (grouping, widening, hypernetwork,
scoring on ``num_batches`` batches, bisection, pruning, channel config) divided by one
baseline training iteration (forward + backward + SGD step) on the same batch, measured side
by side in this run (medians); the bisection time alone; and the process's peak resident
memory, which the scoring step of the largest model sets.

    python benchmarks/shrink_overhead.py            # ResNet50 224² b32 and RegNetX-400MF 32² b64
    python benchmarks/shrink_overhead.py --device cuda --cases resnet50-imagenet-b64 --runs 1 --no-compare
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lwdna_plugin import LWDNAConfig, shrink  # noqa: E402


def mm_classifier(backbone, in_channels, num_classes):
    from mmpretrain.models import build_classifier
    import mmpretrain.models  # noqa: F401
    model = build_classifier(dict(type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
                                  head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels)))
    return model   # PyTorch's default init; the zoo's init_weights does not change the cost measured here


CASES = {
    # name: (builder, input size, batch, lwdna settings: the paper's ImageNet command for ResNet50, defaults
    # else; the criterion of the authors' code for the network)
    'resnet50-imagenet': (lambda: mm_classifier(dict(type='ResNet', depth=50), 2048, 1000), 224, 32,
                          dict(flops_target=0.92, embedding_dim=2, criterion='magnitude')),
    'resnet50-imagenet-b64': (lambda: mm_classifier(dict(type='ResNet', depth=50), 2048, 1000), 224, 64,
                              dict(flops_target=0.92, embedding_dim=2, criterion='magnitude')),
    'regnetx400mf-cifar': (lambda: mm_classifier(dict(type='RegNet', arch='regnetx_400mf'), 384, 100), 32, 64,
                           dict(flops_target=0.9813, embedding_dim=8, criterion='gradient')),
    'regnetx400mf-cifar-m2': (lambda: mm_classifier(dict(type='RegNet', arch='regnetx_400mf'), 384, 100), 32, 64,
                              dict(flops_target=0.9813, embedding_dim=2, criterion='gradient')),
}


def forward(model, x):
    return model(x, mode='tensor')


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def train_iteration_time(model, x, y, repeats):
    model.to(x.device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    for i in range(repeats + 1):
        synchronize(x.device)
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(forward(model, x), y).backward()
        opt.step()
        synchronize(x.device)
        if i:   # the first is warm-up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--repeats', type=int, default=5, help='timed baseline iterations (median)')
    p.add_argument('--runs', type=int, default=3, help='shrink runs per model (median)')
    p.add_argument('--no-compare', action='store_true',
                   help="skip the side-by-side run with 0.2.0's protocol (criterion 'gradient_sum', no steps)")
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (reports the peak GPU memory)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    variants = [(name, settings) for name in args.cases
                for settings in [CASES[name][3]] + ([] if args.no_compare else
                                                    [{**CASES[name][3], 'criterion': 'gradient_sum'}])]
    for name, settings in variants:
        build, size, batch, _ = CASES[name]
        model = build().to(device)
        num_classes = model.head.fc.out_features
        x, y = torch.randn(batch, 3, size, size, device=device), torch.randint(0, num_classes, (batch,), device=device)
        batches = [(x, y), (x.roll(1, 0), y.roll(1, 0))]
        iteration = train_iteration_time(build(), x, y, args.repeats)
        runs = []
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(args.runs):
            synchronize(device)
            start = time.perf_counter()
            result = shrink(model, batches, F.cross_entropy, LWDNAConfig(**settings), forward_fn=forward)
            synchronize(device)
            runs.append((time.perf_counter() - start, result.channel_config))   # the whole call
            del result
        gpu_peak = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == 'cuda' else float('nan')
        iteration = statistics.median([iteration, train_iteration_time(build(), x, y, args.repeats)])
        wall, config = sorted(runs, key=lambda run: run[0])[len(runs) // 2]   # the median run
        t = config['timings']
        rows.append(dict(model=name, criterion=settings['criterion'], batch=f'{batch}x{size}²', iteration_s=iteration, shrink_s=wall,
                         ratio=wall / iteration, scoring_s=t['scoring_s'], hypernet_s=t['hypernet_s'],
                         search_s=t['search_s'], peak_rss_mb=peak_rss_mb(), gpu_peak_mb=gpu_peak,
                         flops_ratio=config['flops']['lwdna'] / config['flops']['baseline']))
        del model
    where = torch.cuda.get_device_name(device) if device.type == 'cuda' else f'CPU, {torch.get_num_threads()} threads'
    print(f'torch {torch.__version__}, {where}')
    print(f'medians: baseline iteration of {args.repeats} (before and after), shrink of {args.runs} runs')
    print('| model | criterion | batch | baseline iter (s) | shrink (s) | shrink / iter | scoring (s) '
          '| hypernet init (s) | bisection (s) | process peak RSS (MB) | peak GPU memory (MB) | LW-DNA FLOPs ratio |')
    print('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for r in rows:
        print(f"| {r['model']} | {r['criterion']} | {r['batch']} | {r['iteration_s']:.3f} | {r['shrink_s']:.2f} "
              f"| {r['ratio']:.2f} "
              f"| {r['scoring_s']:.2f} | {r['hypernet_s']:.2f} | {r['search_s']:.4f} | {r['peak_rss_mb']:.0f} "
              f"| {r['gpu_peak_mb']:.0f} | {r['flops_ratio']:.4f} |")


if __name__ == '__main__':
    main()

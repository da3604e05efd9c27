#!/usr/bin/env python
"""Inference latency of baseline vs LW-DNA networks, beside their FLOPs ratio.

Each model is built from the project's own configs: the baseline from ``configs/baseline/``,
its LW-DNA version by shrinking that baseline with the LW-DNA config's ``lwdna`` settings
(also with ``channel_divisor=8``, kept widths rounded to multiples of 8). Scoring batches are
the embedded data at the model's input size (digits for classifiers, scikit-image photographs
for EDSR). Latency: eval mode, ``torch.inference_mode``, warm-up, then rounds in which every
variant runs once in turn (so noise hits all alike); the median per variant is reported.

    python benchmarks/latency.py                          # CPU, batch 1 and 32
    python benchmarks/latency.py --device cuda --dtype bfloat16
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from benchmarks.common import CASES, build_case  # noqa: E402
from lwdna_plugin import count_flops_params  # noqa: E402


def measure(models: Dict[str, nn.Module], forward: Callable, x: torch.Tensor, rounds: int,
            warmup: int = 2) -> Dict[str, float]:
    """Median seconds per forward pass of each model, measured in interleaved rounds."""
    times: Dict[str, List[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for r in range(warmup + rounds):
            for name, model in models.items():
                if x.is_cuda:
                    torch.cuda.synchronize()
                start = time.perf_counter()
                forward(model, x)
                if x.is_cuda:
                    torch.cuda.synchronize()
                if r >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def rounds_for(batch: int, device: str) -> int:
    return 20 if batch == 1 or device == 'cuda' else 5


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--batches', nargs='+', type=int, default=[1, 32])
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
    args = p.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    print(f'torch {torch.__version__}, device {args.device}'
          f'{"" if args.device != "cpu" else f" ({torch.get_num_threads()} threads)"}, {args.dtype}')
    print('| model | input | batch | baseline (ms) | LW-DNA (ms) | latency ratio | FLOPs ratio '
          '| LW-DNA ÷8 (ms) | latency ratio ÷8 | FLOPs ratio ÷8 |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    scored_on = []
    for name in args.cases:
        case = build_case(name)
        scored_on.append(f'{name}: {case.scoring_data}')
        flops = {k: count_flops_params(m, input_shape=case.input_shape, forward_fn=case.forward)[0]
                 for k, m in case.models.items()}
        models = {k: m.eval().to(args.device, dtype) for k, m in case.models.items()}
        for batch in args.batches:
            x = torch.randn(batch, *case.input_shape[1:], device=args.device, dtype=dtype)
            t = measure(models, case.forward, x, rounds_for(batch, args.device))
            size = 'x'.join(map(str, case.input_shape[2:]))
            print(f"| {name} | {size} | {batch} | {t['baseline'] * 1e3:.2f} | {t['lwdna'] * 1e3:.2f} "
                  f"| {t['lwdna'] / t['baseline']:.3f} | {flops['lwdna'] / flops['baseline']:.3f} "
                  f"| {t['lwdna_div8'] * 1e3:.2f} | {t['lwdna_div8'] / t['baseline']:.3f} "
                  f"| {flops['lwdna_div8'] / flops['baseline']:.3f} |", flush=True)
    print('\nLW-DNA channels scored on: ' + '; '.join(scored_on))


if __name__ == '__main__':
    main()

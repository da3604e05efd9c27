#!/usr/bin/env python
"""Inference latency of baseline vs LW-DNA networks, beside their FLOPs ratio.

Each model is built from the project's own configs: the baseline from ``configs/baseline/``,
its LW-DNA version by shrinking that baseline with the LW-DNA config's ``lwdna`` settings
(also with ``channel_divisor=8``, kept widths rounded to multiples of 8). Scoring batches are
the embedded data at the model's input size (digits for classifiers, scikit-image photographs
for EDSR). Latency: eval mode, ``torch.inference_mode``, warm-up, then rounds in which every
variant runs once in turn (so noise hits all alike); reported: the baseline's median, and for
each LW-DNA variant the baseline's median times the median of its per-round ratio to it.

With a latency target (rows of their own): the baseline shrunk with ``latency_target`` set to
the FLOPs-mode LW-DNA model's FLOPs ratio, at each batch (the latency table is per batch),
the predicted latency beside the one measured here.

    python benchmarks/latency.py                          # CPU, batch 1 and 32
    python benchmarks/latency.py --device cuda --dtype bfloat16
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
from typing import Callable, Dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from benchmarks.common import CASES, build_case  # noqa: E402
from lwdna_plugin import count_flops_params  # noqa: E402
from lwdna_plugin.core.errors import InfeasibleTargetError  # noqa: E402
from lwdna_plugin.core.latency import paired_seconds, time_rounds  # noqa: E402


def measure(models: Dict[str, nn.Module], forward: Callable, x: torch.Tensor, rounds: int,
            warmup: int = 2) -> Dict[str, float]:
    """Seconds per forward pass of each model, measured in interleaved rounds: the first
    model's median, the others' as that times their median per-round ratio to it."""
    times = time_rounds([lambda m=m: forward(m, x) for m in models.values()], x.device, min_time_s=0,
                        min_reps=rounds, max_reps=rounds, warmup=warmup)
    return dict(zip(models, paired_seconds(times)))


def rounds_for(batch: int, device: str) -> int:
    return 20 if batch == 1 or device == 'cuda' else 10


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--batches', nargs='+', type=int, default=[1, 32])
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
    p.add_argument('--no-latency-target', action='store_true', help='leave out the latency-target rows')
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='[%(asctime)s] %(message)s', datefmt='%H:%M:%S')   # stderr
    dtype = getattr(torch, args.dtype)
    print(f'torch {torch.__version__}, device {args.device}'
          f'{"" if args.device != "cpu" else f" ({torch.get_num_threads()} threads)"}, {args.dtype}')
    print('| model | input | batch | baseline (ms) | LW-DNA (ms) | latency ratio | FLOPs ratio '
          '| LW-DNA ÷8 (ms) | latency ratio ÷8 | FLOPs ratio ÷8 |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    scored_on, latency_rows = [], []
    for name in args.cases:
        case = build_case(name)
        scored_on.append(f'{name}: {case.scoring_data}')
        flops_params = {k: count_flops_params(m, input_shape=case.input_shape, forward_fn=case.forward)
                        for k, m in case.models.items()}
        flops = {k: v[0] for k, v in flops_params.items()}
        models = {k: copy.deepcopy(m).eval().to(args.device, dtype) for k, m in case.models.items()}   # shrink: CPU
        for batch in args.batches:
            x = torch.randn(batch, *case.input_shape[1:], device=args.device, dtype=dtype)
            size = 'x'.join(map(str, case.input_shape[2:]))
            if not args.no_latency_target:   # the latency target: the FLOPs-mode model's FLOPs ratio
                target = flops['lwdna'] / flops['baseline']
                latency = dict(latency_target=round(target, 4), latency_batch=batch, latency_dtype=args.dtype,
                               latency_device=args.device, channel_divisor='auto')
                try:
                    result, floors = case.shrink(**latency), ''
                except InfeasibleTargetError as e:   # what a user does: lower the floors as the error says
                    print(f'{name}, batch {batch}: {e}; again with rho and tau halved', file=sys.stderr)
                    floors = ' (ρ, τ ÷ 2)'
                    result = case.shrink(**latency, rho=case.settings.get('rho', 0.4) / 2,
                                         tau=case.settings.get('tau', 0.45) / 2)
                lat = result.channel_config['latency']
                models['lwdna_latency'] = result.model.eval().to(args.device, dtype)
                flops_params['lwdna_latency'] = count_flops_params(result.model, input_shape=case.input_shape,
                                                                   forward_fn=case.forward)
            t = measure(models, case.forward, x, rounds_for(batch, args.device))
            print(f"| {name} | {size} | {batch} | {t['baseline'] * 1e3:.2f} | {t['lwdna'] * 1e3:.2f} "
                  f"| {t['lwdna'] / t['baseline']:.3f} | {flops['lwdna'] / flops['baseline']:.3f} "
                  f"| {t['lwdna_div8'] * 1e3:.2f} | {t['lwdna_div8'] / t['baseline']:.3f} "
                  f"| {flops['lwdna_div8'] / flops['baseline']:.3f} |", flush=True)
            if not args.no_latency_target:
                base_f, base_p = flops_params['baseline']
                lw_f, lw_p = flops_params['lwdna_latency']
                latency_rows.append(
                    f"| {name}{floors} | {batch} | {target:.3f} | {t['lwdna_latency'] / t['baseline']:.3f} "
                    f"| {t['lwdna'] / t['baseline']:.3f} | {lat['predicted_s'] / lat['baseline_s']:.3f} "
                    f"| {100 * (lat['predicted_s'] / lat['baseline_s'] * t['baseline'] / t['lwdna_latency'] - 1):+.1f} "
                    f"| {100 * (lat['rounds'][0]['predicted_s'] / lat['rounds'][0]['measured_s'] - 1):+.1f} "
                    f"| {len(lat['rounds'])} | {lat['table_s']:.1f} | {result.channel_config['timings']['latency_model_s']:.1f} "
                    f"| {lw_f / base_f:.3f} | {lw_p / base_p:.3f} |")
                del models['lwdna_latency']
    print('\nLW-DNA channels scored on: ' + '; '.join(scored_on))
    if latency_rows:
        print('\nLatency target (= the FLOPs-mode model\'s FLOPs ratio; channel_divisor auto), measured in the '
              'same interleaved rounds as the rows above. Predicted ratio: the search\'s predicted latency over the '
              'baseline latency it measured; prediction error: predicted over measured ratio; first-round error: '
              'the uncorrected table\'s prediction over its network\'s measurement; table: seconds measuring '
              'layers (0 when cached); latency model: table + the networks it is fitted on:\n')
        print('| model | batch | latency target | latency ratio | FLOPs-target ratio | predicted ratio '
              '| prediction error (%) | first-round error (%) | rounds | table (s) | latency model (s) '
              '| FLOPs ratio | params ratio |')
        print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        print('\n'.join(latency_rows))


if __name__ == '__main__':
    main()

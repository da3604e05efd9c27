#!/usr/bin/env python
"""Our baselines and LW-DNA models against the paper's Table 1 (classification) and Table 2
(denoising) figures.

For every row whose configs ship under ``configs/``: the baseline's FLOPs (multiply-adds) and
params at the dataset's input size against the paper's, and the LW-DNA model that the row's
LW-DNA config finds (its own ``lwdna`` settings; channels scored on the embedded digits at the
same input size, since CIFAR / Tiny-ImageNet / ImageNet are not available offline): FLOPs and
params ratios against the paper's. Table 2: the basicsr option files' DnCNN / U-Net at 128×128
gray, LW-DNA scored with L1 on noisy (σ=70) gray crops of scikit-image's photographs.

    python benchmarks/reproduce_tables.py                 # print the table
    python benchmarks/reproduce_tables.py --write         # also update docs/results.md
    python benchmarks/reproduce_tables.py --rows resnet56_cifar10 --plots docs/plots
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.common import build_restoration_network, lwdna_settings, sr_option  # noqa: E402
from lwdna_plugin.data import digit_batches, photo_denoise_batches  # noqa: E402
from benchmarks.paper_tables import TABLE1, TABLE2, PaperRow  # noqa: E402
from lwdna_plugin import LWDNAConfig, count_flops_params, shrink  # noqa: E402
from lwdna_plugin.basicsr.model import run_optimizer  # noqa: E402

RESULTS = os.path.join(ROOT, 'docs', 'results.md')
HEADER = ['| config | input | baseline GFLOPs (paper) | Δ | baseline params M (paper) | Δ '
          '| LW-DNA FLOPs ratio (paper) | LW-DNA params ratio (paper) |',
          '|---|---:|---:|---:|---:|---:|---:|---:|']
BEGIN, END = '<!-- reproduce_tables:begin -->', '<!-- reproduce_tables:end -->'


def save_plot(result, row: str, plots: Optional[str]) -> None:
    """The row's per-layer plot, report and channel config as ``<plots>/<row>_channels.png`` etc."""
    if plots:
        result.save(plots, prefix=row, overwrite=True)


def table1_rows(scoring_batch: int, rows: Sequence[str], plots: Optional[str]) -> List[str]:
    import lwdna_plugin.mmpretrain  # noqa: F401
    from lwdna_plugin.mmpretrain.builder import build_classifier_from_config
    from lwdna_plugin.mmpretrain.model import tensor_forward

    lines = []
    for row, paper in TABLE1.items():
        if rows and row not in rows:
            continue
        path = os.path.join(ROOT, 'configs', 'baseline', f'{row}.py')
        if not os.path.isfile(path):
            continue
        torch.manual_seed(0)
        baseline = build_classifier_from_config(path)
        shape = (1, 3, paper.input_size, paper.input_size)
        flops, params = count_flops_params(baseline, input_shape=shape, forward_fn=tensor_forward)
        cfg = LWDNAConfig.from_dict(lwdna_settings(row))
        batches = digit_batches(paper.input_size, scoring_batch, cfg.num_batches)
        result = shrink(baseline, batches, F.cross_entropy, cfg, forward_fn=tensor_forward)
        save_plot(result, row, plots)
        lines.append(row_line(row, paper, flops, params, result.channel_config))
    return lines


def table2_rows(scoring_batch: int, rows: Sequence[str], plots: Optional[str]) -> List[str]:
    lines = []
    for row, paper in TABLE2.items():
        if rows and row not in rows:
            continue
        baseline = build_restoration_network(row)
        in_ch = sr_option('baseline', row)['network_g'].get('num_in_ch', 1)
        flops, params = count_flops_params(baseline, input_shape=(1, in_ch, paper.input_size, paper.input_size))
        option = sr_option('lwdna', row)
        cfg = LWDNAConfig.from_dict(dict(option['lwdna']))
        batches = photo_denoise_batches(paper.input_size, 70, scoring_batch, cfg.num_batches)
        # the search steps with the run's own optimizer (train:optim_g), as the basicsr adapter does
        result = shrink(baseline, batches, F.l1_loss, cfg, make_optimizer=run_optimizer(option))
        save_plot(result, row, plots)
        lines.append(row_line(row, paper, flops, params, result.channel_config))
    return lines


def row_line(row: str, paper: PaperRow, flops: float, params: float, lwdna: dict) -> str:
    """One Markdown row: ours (paper) for the baseline, LW-DNA ratios against the paper's."""
    print(f'{row}: done', file=sys.stderr, flush=True)
    return (f'| {row} | {paper.input_size}² | {flops / 1e9:.4f} ({paper.gflops}) '
            f'| {100 * (flops / 1e9 / paper.gflops - 1):+.2f} % '
            f'| {params / 1e6:.3f} ({paper.mparams}) | {100 * (params / 1e6 / paper.mparams - 1):+.2f} % '
            f'| {100 * lwdna["flops"]["lwdna"] / flops:.2f} % ({100 * paper.lwdna_gflops / paper.gflops:.2f} %) '
            f'| {100 * lwdna["params"]["lwdna"] / params:.2f} % '
            f'({100 * paper.lwdna_mparams / paper.mparams:.2f} %) |')


def write_section(lines: List[str]) -> None:
    """Replace the generated section of docs/results.md (between the markers)."""
    text = open(RESULTS).read() if os.path.isfile(RESULTS) else f'# Results\n\n{BEGIN}\n{END}\n'
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(RESULTS, 'w') as f:
        f.write(head + BEGIN + '\n' + '\n'.join(lines) + '\n' + END + tail)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--scoring-batch', type=int, default=16, help='digits per scoring batch')
    p.add_argument('--rows', nargs='+', default=[], choices=list(TABLE1) + list(TABLE2), help='default: all')
    p.add_argument('--plots', help='also write each row\'s per-layer plot, report and channel config here')
    p.add_argument('--write', action='store_true', help='update docs/results.md')
    args = p.parse_args(argv)
    if args.write and args.rows:
        p.error('--write needs every row (no --rows)')
    lines = HEADER + table1_rows(args.scoring_batch, args.rows, args.plots) + \
        table2_rows(args.scoring_batch // 2, args.rows, args.plots)
    print('\n'.join(lines))
    if args.write:
        write_section(lines)


if __name__ == '__main__':
    main()

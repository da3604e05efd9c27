#!/usr/bin/env python
"""Evaluate a checkpoint; LW-DNA checkpoints rebuild their architecture from the channel
config in their meta (no scoring).

    python tools/test.py configs/lwdna/demo_digits.py work_dirs/demo_digits/epoch_24.pth
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from train import build_runner  # noqa: E402  (same directory)


def main(argv=None) -> int:
    from mmengine.config import Config, DictAction

    p = argparse.ArgumentParser(description='Test a classifier checkpoint (mmpretrain) with the LW-DNA plugin')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--work-dir')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    args = p.parse_args(argv)

    import lwdna_plugin  # noqa: F401
    from lwdna_plugin import LWDNAError
    from lwdna_plugin.mmpretrain.runner import no_trace_of_refused_runs

    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            print(f'error: {path!r} does not exist', file=sys.stderr)
            return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from, cfg.resume = args.checkpoint, False
    try:
        with no_trace_of_refused_runs(cfg.work_dir):
            runner = build_runner(cfg)
    except LWDNAError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    try:
        metrics = runner.test()
    except LWDNAError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print({k: round(float(v), 4) for k, v in metrics.items()})
    return 0


if __name__ == '__main__':
    sys.exit(main())

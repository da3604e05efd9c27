"""Evaluate a checkpoint; LW-DNA checkpoints rebuild their architecture from the channel
config in their meta (no scoring).

    lwdna-test lwdna_plugin::lwdna/demo_digits.py work_dirs/demo_digits_lwdna/epoch_24.pth

From a clone, ``python tools/test.py configs/lwdna/demo_digits.py CHECKPOINT`` is the same command.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from .help import HelpFormatter
from .train import build_runner


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=HelpFormatter)
    p.add_argument('config', help="the config the checkpoint was trained with, or 'lwdna_plugin::PATH'")
    p.add_argument('checkpoint', help='the mmengine checkpoint (.pth)')
    p.add_argument('--work-dir', help='where the test logs go (default: the config\'s work_dir)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings, key=value')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='job launcher (pytorch: under torchrun)')
    args = p.parse_args(argv)
    from lwdna_plugin.core.distributed import run_and_close

    return run_and_close(lambda: _test(args))


def _test(args) -> int:
    from mmengine.config import Config

    from lwdna_plugin import LWDNAError
    from lwdna_plugin.mmpretrain import resolve_config
    from lwdna_plugin.mmpretrain.runner import no_trace_of_refused_runs

    args.config = resolve_config(args.config)

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

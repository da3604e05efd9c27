"""Train a classifier with mmpretrain; LW-DNA configs shrink the network before training.

    lwdna-train lwdna_plugin::lwdna/demo_digits.py     # an installed config (a clone: configs/lwdna/...)
    lwdna-train CONFIG --resume                        # continue the latest checkpoint in work_dir
    lwdna-dist-train CONFIG 2                          # torchrun, one process per GPU

From a clone, ``python tools/train.py`` is the same command.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from .help import HelpFormatter



def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train a classifier (mmpretrain) with the LW-DNA plugin',
                                formatter_class=HelpFormatter)
    p.add_argument('config', help="train config file, or an installed one: 'lwdna_plugin::lwdna/demo_digits.py'")
    p.add_argument('--work-dir', help='the dir to save logs and models (default: the config\'s work_dir, else '
                                      './work_dirs/CONFIG_NAME)')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from this checkpoint, or (no value) from the latest one in work_dir')
    p.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value (lists: key=[a,b])')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='job launcher (pytorch: under torchrun)')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help='set by older launchers')
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    """Command-line settings win over the config (OpenMMLab conventions)."""
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    return cfg


def build_runner(cfg):
    """The config's runner (``runner_type``; by default ``LWDNARunner``, which is mmengine's Runner
    that also resumes from mmengine checkpoints safely under torch >= 2.6); on CPU-only
    machines with gloo."""
    import torch
    from mmengine.registry import RUNNERS

    from lwdna_plugin.mmpretrain.runner import LWDNARunner, cpu_model_wrapper_cfg, init_cpu_distributed

    if not torch.cuda.is_available() and cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend') == 'nccl':
        cfg.env_cfg.dist_cfg.backend = 'gloo'   # CPU-only machines: NCCL is not available
    init_cpu_distributed(cfg.launcher)
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg.launcher, cfg.get('model_wrapper_cfg'),
                                                  cfg.get('find_unused_parameters', False))

    return LWDNARunner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def main(argv=None) -> int:
    args = parse_args(argv)
    from lwdna_plugin.core.distributed import run_and_close

    return run_and_close(lambda: _train(args))


def _train(args) -> int:
    from mmengine.config import Config

    from lwdna_plugin import LWDNAError
    from lwdna_plugin.mmpretrain import resolve_config   # registers the plugin in mmpretrain's registries
    from lwdna_plugin.mmpretrain.runner import no_trace_of_refused_runs

    args.config = resolve_config(args.config)

    if not osp.isfile(args.config):
        print(f'error: config file {args.config!r} does not exist', file=sys.stderr)
        return 2
    cfg = merge_args(Config.fromfile(args.config), args)
    try:
        with no_trace_of_refused_runs(cfg.work_dir):
            runner = build_runner(cfg)
    except (LWDNAError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    try:
        runner.train_loop   # builds the train dataloader now: missing data fails before any step
    except (OSError, RuntimeError) as e:
        print(f'error: cannot build the training data: {type(e).__name__}: {e}', file=sys.stderr)
        return 2
    try:
        runner.train()
    except LWDNAError as e:   # e.g. a checkpoint to resume from that is refused
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())

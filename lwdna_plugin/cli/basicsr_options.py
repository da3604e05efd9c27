"""The options of basicsr's ``train.py`` / ``test.py``, parsed here first so that ``--help``
answers without importing basicsr and ``-opt lwdna_plugin::PATH`` names an installed option
file; basicsr then parses the same command line itself, in its own pipeline."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from .help import HelpFormatter


def parse_basicsr_command_line(doc: str, argv: Optional[List[str]] = None) -> List[str]:
    """Check the command line against basicsr's options (exit 2 / print help as argparse does)
    and return it with an installed option file's path in place of ``lwdna_plugin::PATH``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=doc.split('\n\n')[0], epilog=doc.split('\n\n', 1)[1],
                                formatter_class=HelpFormatter)
    p.add_argument('-opt', required=True,
                   help="option file (YAML), or an installed one: 'lwdna_plugin::basicsr/lwdna/demo_edsr_x4.yml'")
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                   help='job launcher (pytorch: under torchrun)')
    p.add_argument('--auto_resume', action='store_true', help='continue the latest training state of the experiment')
    p.add_argument('--debug', action='store_true', help="basicsr's debug mode (few iterations, no archiving)")
    p.add_argument('--local_rank', type=int, default=0, help='set by older launchers')
    p.add_argument('--force_yml', nargs='+', default=None, help='override options, e.g. train:total_iter=100')
    args = p.parse_args(argv)
    from ..configs import PREFIX, resolve_config

    if args.opt.startswith(PREFIX):
        argv[argv.index(args.opt)] = resolve_config(args.opt)
    return argv


def run_basicsr_pipeline(stage: str, doc: str, argv: Optional[List[str]] = None) -> int:
    """basicsr's own ``train_pipeline`` / ``test_pipeline`` (``stage`` 'train' / 'test') with
    the plugin, in the current folder (basicsr's root path). Returns the exit status."""
    sys.argv[1:] = parse_basicsr_command_line(doc, argv)   # basicsr reads sys.argv itself
    from ..basicsr import pipeline

    return getattr(pipeline, stage)(os.getcwd())

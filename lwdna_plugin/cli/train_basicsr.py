"""Train a restoration network with basicsr's own train pipeline and the LW-DNA plugin; an
option file with an ``lwdna:`` block shrinks ``network_g`` before training.

    lwdna-make-restoration-demo-data
    lwdna-train-basicsr -opt lwdna_plugin::basicsr/lwdna/demo_edsr_x4.yml
    lwdna-train-basicsr -opt FILE --auto_resume        # continue the latest state
    torchrun --nproc_per_node 2 -m lwdna_plugin.cli.train_basicsr -opt FILE --launcher pytorch

All of basicsr's options work (``--force_yml train:total_iter=100``, ``--debug``, ...).
Experiments go to ``./experiments/<name>`` (the current folder is basicsr's root path; data
paths in the option files are relative to it). Bad input: one ``error:`` line, exit status 2.
From a clone, ``python tools/train_basicsr.py`` is the same command.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from .basicsr_options import run_basicsr_pipeline


def main(argv: Optional[List[str]] = None) -> int:
    return run_basicsr_pipeline('train', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())

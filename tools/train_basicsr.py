#!/usr/bin/env python
"""Train a restoration network with basicsr's own train pipeline and the LW-DNA plugin; an
option file with an ``lwdna:`` block shrinks ``network_g`` before training.

    python tools/make_restoration_demo_data.py
    python tools/train_basicsr.py -opt configs/basicsr/lwdna/demo_edsr_x4.yml
    python tools/train_basicsr.py -opt FILE --auto_resume        # continue the latest state
    torchrun --nproc_per_node 2 tools/train_basicsr.py -opt FILE --launcher pytorch

All of basicsr's options work (``--force_yml train:total_iter=100``, ``--debug``, ...).
Experiments go to ``./experiments/<name>`` (the current folder is basicsr's root path; data
paths in the option files are relative to it). Bad input: one ``error:`` line, exit status 2.
"""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> int:
    from lwdna_plugin.basicsr import pipeline

    return pipeline.train(os.getcwd())


if __name__ == '__main__':
    sys.exit(main())

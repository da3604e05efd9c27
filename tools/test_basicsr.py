#!/usr/bin/env python
"""Test a restoration network with basicsr's own test pipeline and the LW-DNA plugin.

    python tools/test_basicsr.py -opt configs/basicsr/test/demo_edsr_x4_lwdna.yml

An LW-DNA network is described by ``network_g: {type: LWDNANet, channel_config:
experiments/NAME/lwdna_channels.json}`` and its weights by ``path:pretrain_network_g``.
Results go to ``./results/<name>``. Bad input: one ``error:`` line, exit status 2.
"""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> int:
    from lwdna_plugin.basicsr import pipeline

    return pipeline.test(os.getcwd())


if __name__ == '__main__':
    sys.exit(main())

"""Test a restoration network with basicsr's own test pipeline and the LW-DNA plugin.

    lwdna-test-basicsr -opt lwdna_plugin::basicsr/test/demo_edsr_x4_lwdna.yml

An LW-DNA network is described by ``network_g: {type: LWDNANet, channel_config:
experiments/NAME/lwdna_channels.json}`` and its weights by ``path:pretrain_network_g``.
Results go to ``./results/<name>``. Bad input: one ``error:`` line, exit status 2.
From a clone, ``python tools/test_basicsr.py`` is the same command.
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional

from .basicsr_options import parse_basicsr_command_line


def main(argv: Optional[List[str]] = None) -> int:
    sys.argv[1:] = parse_basicsr_command_line(__doc__, argv)   # basicsr reads sys.argv itself
    from lwdna_plugin.basicsr import pipeline

    return pipeline.test(os.getcwd())


if __name__ == '__main__':
    sys.exit(main())

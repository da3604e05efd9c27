"""Test a restoration network with basicsr's own test pipeline and the LW-DNA plugin.

    lwdna-test-basicsr -opt lwdna_plugin::basicsr/test/demo_edsr_x4_lwdna.yml

An LW-DNA network is described by ``network_g: {type: LWDNANet, channel_config:
experiments/NAME/lwdna_channels.json}`` and its weights by ``path:pretrain_network_g``.
Results go to ``./results/<name>``. Bad input: one ``error:`` line, exit status 2.
From a clone, ``python tools/test_basicsr.py`` is the same command.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from .basicsr_options import run_basicsr_pipeline


def main(argv: Optional[List[str]] = None) -> int:
    return run_basicsr_pipeline('test', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())

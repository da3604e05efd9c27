#!/usr/bin/env python
"""From a clone: the same command as the installed ``lwdna-make-restoration-demo-data``
(:mod:`lwdna_plugin.cli.make_restoration_demo_data`)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from lwdna_plugin.cli.make_restoration_demo_data import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())

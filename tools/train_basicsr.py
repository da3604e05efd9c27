#!/usr/bin/env python
"""From a clone: the same command as the installed ``lwdna-train-basicsr``
(:mod:`lwdna_plugin.cli.train_basicsr`)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from lwdna_plugin.cli.train_basicsr import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())

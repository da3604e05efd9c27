"""Multi-process mmpretrain training through torchrun, one process per GPU:

    lwdna-dist-train CONFIG NPROC [lwdna-train options]

Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500), as in
OpenMMLab's ``dist_train.sh``. Every rank builds the identical LW-DNA architecture (rank 0
scores, the others receive its channel config).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from .help import HelpFormatter


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 1)[1],
                                formatter_class=HelpFormatter)
    p.add_argument('config', help="train config, or 'lwdna_plugin::PATH'")
    p.add_argument('nproc', type=int, help='processes on this node (one per GPU)')
    p.add_argument('train_args', nargs=argparse.REMAINDER, help='passed on to lwdna-train')
    args = p.parse_args(argv)
    if args.nproc < 1:
        p.error(f'NPROC must be at least 1, got {args.nproc}')
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun([f'--nnodes={os.environ.get("NNODES", "1")}', f'--node_rank={os.environ.get("NODE_RANK", "0")}',
                  f'--master_addr={os.environ.get("MASTER_ADDR", "127.0.0.1")}',
                  f'--master_port={os.environ.get("PORT", "29500")}', f'--nproc_per_node={args.nproc}',
                  '-m', 'lwdna_plugin.cli.train', args.config, '--launcher', 'pytorch', *args.train_args])
    except ChildFailedError as e:
        print(f'error: a training process failed (exit codes {sorted({f.exitcode for f in e.failures.values()})})',
              file=sys.stderr)
        return 2 if all(f.exitcode == 2 for f in e.failures.values()) else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

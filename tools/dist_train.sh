#!/usr/bin/env bash
# Multi-process training with torchrun from a clone: bash tools/dist_train.sh CONFIG NPROC [train.py options]
# (the installed command is lwdna-dist-train; NNODES, NODE_RANK, MASTER_ADDR, PORT as usual)
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" exec python -m lwdna_plugin.cli.dist_train "$@"

"""torch.distributed helpers shared by the zoo adapters: one channel config for every rank,
and a gloo process group where torchrun runs on a machine without CUDA."""
from __future__ import annotations

from typing import Callable, TypeVar

import torch
import torch.distributed as dist

from .errors import LWDNAError

T = TypeVar('T')


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shared_decision(decide: Callable[[], T]) -> T:
    """Run ``decide()`` on rank 0 only and give every rank its result (e.g. the channel config,
    before DDP wraps the model). If rank 0 fails, every rank raises: an :class:`LWDNAError` as
    itself, anything else as a ``RuntimeError`` naming it; no rank is left waiting."""
    if not is_distributed():
        return decide()
    box = [None]
    failure = None
    if dist.get_rank() == 0:
        try:
            box = [(decide(), None)]
        except Exception as e:  # broadcast the failure, then re-raise it on rank 0
            failure = e
            shared = e if isinstance(e, LWDNAError) else RuntimeError(f'rank 0 failed: {type(e).__name__}: {e}')
            box = [(None, shared)]
    dist.broadcast_object_list(box, src=0)
    if failure is not None:
        raise failure
    result, error = box[0]
    if error is not None:
        raise error
    return result


def on_every_rank(build: Callable[[], T]) -> T:
    """Run ``build()`` on every rank (e.g. a dataset whose loading calls ``dist.barrier()``, as
    mmpretrain's CIFAR and MNIST do) and agree on failure: if any rank fails, every rank raises
    (an :class:`LWDNAError` as itself, anything else as a ``RuntimeError`` naming it)."""
    if not is_distributed():
        return build()
    result, failure = None, None
    try:
        result = build()
    except Exception as e:
        failure = e
    shared = None if failure is None else failure if isinstance(failure, LWDNAError) else RuntimeError(
        f'rank {dist.get_rank()} failed: {type(failure).__name__}: {failure}')
    failures = [None] * dist.get_world_size()
    dist.all_gather_object(failures, shared)
    if failure is not None:
        raise failure
    first = next((f for f in failures if f is not None), None)
    if first is not None:
        raise first
    return result


def init_cpu_process_group() -> bool:
    """Under torchrun (``RANK`` etc. in the environment) on a machine without CUDA, start the
    gloo process group (the zoos' launchers call ``torch.cuda.set_device`` and default to NCCL).
    Returns True if a process group is initialised afterwards."""
    if not dist.is_initialized() and not torch.cuda.is_available():
        dist.init_process_group(backend='gloo')
    return dist.is_initialized()


def run_and_close(main: Callable[[], int]) -> int:
    """``main()``'s exit code, with the default process group (if one was opened) closed after
    it; after a successful run every rank first meets at a barrier. Left to interpreter exit, a
    rank that finished first tore its gloo connections down while another was still in a
    collective, and that one aborted ("terminate called without an active exception", SIGABRT,
    after a finished two-rank CPU run: 2 of 31 runs of the test)."""
    try:
        code = main()
    except BaseException:
        _close()
        raise
    if code == 0 and is_distributed():
        dist.barrier()
    _close()
    return code


def _close() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

"""``shared_decision`` on a real two-process gloo group: rank 0 decides, every rank gets the
result, and a failure on rank 0 reaches every rank instead of leaving one waiting."""
from __future__ import annotations

import json

import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, folder: str) -> None:
    from lwdna_plugin.core.distributed import shared_decision
    from lwdna_plugin.core.errors import InfeasibleTargetError

    dist.init_process_group('gloo', init_method=f'file://{folder}/init', rank=rank, world_size=2)
    try:
        calls = []
        value = shared_decision(lambda: calls.append(rank) or {'decided_by': rank, 'widths': [3, 5]})
        outcome = [value, calls]
        try:
            shared_decision(lambda: (_ for _ in ()).throw(InfeasibleTargetError('floors keep too much')))
        except InfeasibleTargetError as e:
            outcome.append(str(e))
        try:
            shared_decision(lambda: 1 / 0)
        except (ZeroDivisionError, RuntimeError) as e:
            outcome.append(type(e).__name__)
        with open(f'{folder}/rank{rank}.json', 'w') as f:
            json.dump(outcome, f)
    finally:
        dist.destroy_process_group()


def test_shared_decision_on_two_gloo_ranks(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=2, join=True)
    results = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in range(2)]
    assert results[0] == [{'decided_by': 0, 'widths': [3, 5]}, [0], 'floors keep too much', 'ZeroDivisionError']
    assert results[1] == [{'decided_by': 0, 'widths': [3, 5]}, [], 'floors keep too much', 'RuntimeError']

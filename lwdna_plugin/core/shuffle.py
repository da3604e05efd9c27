"""Channel shuffles (ShuffleNet V1 / V2): ``x.view(N, G, C // G, ...)``, ``transpose(1, 2)``,
``view(N, C, ...)``, an exact permutation of the channels: input channel ``g·C/G + j`` becomes
output channel ``j·G + g``. torch-pruning reads the two views as reshapes and fails (or hangs);
we trace the three ops as channel-preserving nodes, put the permutation on the edge into the
first view (:func:`.index_maps.set_shuffle_maps`), and tie channel j of the G input blocks into one unit: the view computes ``C // G``
from the tensor at run time, so the pruned tensor must keep the same channels in every block
(then the permutation of the pruned tensor is the permutation of the kept channels, in order).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

from torch_pruning._helpers import _HybridIndex

from .reshapes import VIEW_NODES
from .tracing import OpRecord


@dataclass(frozen=True)
class ChannelShuffle:
    """The autograd nodes of one channel shuffle of ``channels`` channels in ``groups`` blocks."""

    fns: tuple              # first view, transpose, [clone], last view
    groups: int
    channels: int

    @property
    def first(self) -> Any:
        return self.fns[0]

    def forward(self, i: int) -> int:
        """Output position of input channel ``i``."""
        per = self.channels // self.groups
        return (i % per) * self.groups + i // per

    def backward(self, o: int) -> int:
        """Input channel at output position ``o``."""
        per = self.channels // self.groups
        return (o % self.groups) * per + o // self.groups


def find_channel_shuffles(records: Dict[Any, OpRecord]) -> List[ChannelShuffle]:
    """Every view–transpose(1, 2)–view chain of the trace that permutes the channels as a
    channel shuffle does (a ``contiguous()`` between may add a clone)."""
    consumers: Dict[Any, List[Any]] = {}
    todo, seen = list(records), set(records)
    while todo:   # the recorded ops and the nodes they create inside (reshape's clone)
        fn = todo.pop()
        for parent, _ in fn.next_functions:
            if parent is not None:
                consumers.setdefault(parent, []).append(fn)
                if parent not in seen and parent.name() == 'CloneBackward0':
                    seen.add(parent)
                    todo.append(parent)
    found = []
    for fn, rec in records.items():
        if fn.name() not in VIEW_NODES or not rec.in_shapes:
            continue
        before, after = [int(s) for s in rec.in_shapes[0]], [int(s) for s in rec.out_shape]
        if len(before) < 3 or len(after) != len(before) + 1 or after[0] != before[0] or after[3:] != before[2:] \
                or after[1] * after[2] != before[1] or after[1] < 2:
            continue
        chain = [fn]
        nxt = _only(consumers.get(fn, []))
        if nxt is None or nxt.name() != 'TransposeBackward0' or \
                sorted(d % len(after) for d in (nxt._saved_dim0, nxt._saved_dim1)) != [1, 2]:
            continue
        chain.append(nxt)
        nxt = _only(consumers.get(nxt, []))
        if nxt is not None and nxt.name() == 'CloneBackward0':
            chain.append(nxt)
            nxt = _only(consumers.get(nxt, []))
        if nxt is None or nxt.name() not in VIEW_NODES or nxt not in records or \
                [int(s) for s in records[nxt].out_shape] != before:
            continue
        chain.append(nxt)
        found.append(ChannelShuffle(tuple(chain), after[1], before[1]))
    return found


def _only(items: Sequence[Any]) -> Any:
    return items[0] if len(items) == 1 else None


class ShufflePermutation:
    """torch-pruning index map through a channel shuffle (or back)."""

    def __init__(self, shuffle: ChannelShuffle, reverse: bool):
        self.map = shuffle.backward if reverse else shuffle.forward

    def __call__(self, idxs: Sequence[_HybridIndex]) -> List[_HybridIndex]:
        return [_HybridIndex(idx=self.map(i.idx), root_idx=i.root_idx) for i in idxs]


def shuffle_block_ties(shuffle: ChannelShuffle) -> List[List[int]]:
    """Output positions that form one unit: channel j of every input block, ``j·G`` … ``j·G + G - 1``."""
    g = shuffle.groups
    return [list(range(j * g, j * g + g)) for j in range(math.ceil(shuffle.channels / g))]

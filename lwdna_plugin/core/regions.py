"""Regions of a trace that one rule reads as a whole (split attention, attention heads): ops
joined into regions as the trace goes, each region marked *bad* (an op the rule cannot follow)
or *useful* (the op the rule exists for); only the ops of useful regions without a bad op count."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Set


class Regions:
    """Union-find over regions, by the ops in them."""

    def __init__(self) -> None:
        self.parent: List[int] = []
        self.of: Dict[Any, int] = {}    # op -> its region (not necessarily the root)
        self.bad: Set[int] = set()
        self.useful: Set[int] = set()

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def open(self, op: Any) -> int:
        """A new region holding ``op``."""
        self.parent.append(len(self.parent))
        self.of[op] = self.parent[-1]
        return self.parent[-1]

    def join(self, op: Any, inputs: Iterable[Any]) -> int:
        """``op`` in the one region of ``inputs`` (region ops), merging theirs with their marks."""
        roots = [self.root(self.of[f]) for f in inputs]
        rid = roots[0]
        for other in roots[1:]:
            if other != rid:
                self.parent[other] = rid
                self.bad.update({rid} if other in self.bad else ())
                self.useful.update({rid} if other in self.useful else ())
        self.of[op] = rid
        return rid

    def kept(self, rid: int) -> bool:
        """True if region ``rid`` (any member id) is useful and has no bad op."""
        rid = self.root(rid)
        return rid in self.useful and rid not in self.bad

    def kept_ops(self) -> List[Any]:
        """The ops of every kept region, in the order they joined."""
        return [op for op, rid in self.of.items() if self.kept(rid)]

"""Bisection on the global score threshold under per-group floors (METHOD.md step 4)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, List, Sequence

import numpy as np

from .errors import InfeasibleTargetError


@dataclass
class SearchResult:
    threshold: float
    kept: np.ndarray                  # kept units per group
    keep_units: List[np.ndarray]      # per group: kept local unit indices (sorted)
    value: float                      # FLOPs / params of the chosen candidate
    target: float
    iterations: int
    converged: bool
    time_s: float
    history: List[List[float]] = field(default_factory=list)   # [threshold, value]


def round_up(value, step):
    """``value`` rounded up to a multiple of ``step`` (integers or integer arrays)."""
    return -(-value // step) * step


def group_counts(sorted_desc: Sequence[np.ndarray], floors: np.ndarray, threshold: float,
                 divisors: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Units kept per group: score ≥ min(t, k-th largest), rounded up to the group's divisor."""
    counts = np.empty(len(sorted_desc), dtype=np.int64)
    for i, s in enumerate(sorted_desc):
        counts[i] = max(floors[i], int(np.searchsorted(-s, -threshold, side='right')))
    counts = np.minimum(round_up(counts, divisors), totals)
    return counts


def check_feasible(totals: Sequence[int], floors: Sequence[int], cost: Callable[[np.ndarray], float],
                   target: float, tolerance: float = 1e-3, divisors: Sequence[int] = None,
                   what: str = 'FLOPs', floor_hint: str = 'lower rho / tau') -> None:
    """Raise :class:`InfeasibleTargetError` if ``target`` is below what the floors keep or above
    the whole widened network. Needs no scores: run it before scoring."""
    totals = np.asarray(totals, dtype=np.int64)
    floors = np.minimum(np.maximum(np.asarray(floors, dtype=np.int64), 1), totals)
    divisors = np.ones_like(totals) if divisors is None else np.asarray(divisors, dtype=np.int64)
    least = cost(np.minimum(round_up(floors, divisors), totals))
    if least > target * (1 + tolerance):
        raise InfeasibleTargetError(
            f'the {what} target {target:.6g} is below what the floors already keep ({least:.6g}); '
            f'{floor_hint} or raise the target')
    most = cost(totals)
    if most < target * (1 - tolerance):
        raise InfeasibleTargetError(
            f'the {what} target {target:.6g} is above the whole widened network ({most:.6g}); '
            'raise width_mult or lower the target')


def miss(value: float, target: float, tolerance: float, upper_bound: bool = False) -> float:
    """How far ``value`` is from ``target`` for the search (relative); with ``upper_bound`` a value
    more than ``tolerance`` over the target ranks after every value under it."""
    ratio = value / target
    return 1e3 + ratio if upper_bound and ratio > 1 + tolerance else abs(ratio - 1)


def bisect_threshold(scores: Sequence[np.ndarray], floors: Sequence[int], cost: Callable[[np.ndarray], float],
                     target: float, tolerance: float = 1e-3, max_iterations: int = 100,
                     divisors: Sequence[int] = None, what: str = 'FLOPs', upper_bound: bool = False
                     ) -> SearchResult:
    """Find the global threshold whose kept network costs ``target`` (relative ``tolerance``).

    ``scores[g]`` are the unit scores of group g (fixed groups: pass all-inf scores so they
    are always kept in full), ``floors[g]`` the minimum kept units, ``cost`` maps kept units
    per group to FLOPs or params. Where the channel steps are too coarse to come within
    ``tolerance``, the closest network is returned; with ``upper_bound`` (a budget: latency)
    the closest one under the target.
    """
    start = time.perf_counter()
    totals = np.asarray([len(s) for s in scores], dtype=np.int64)
    floors = np.minimum(np.maximum(np.asarray(floors, dtype=np.int64), 1), totals)
    divisors = np.ones_like(totals) if divisors is None else np.asarray(divisors, dtype=np.int64)
    sorted_desc = [np.sort(np.asarray(s, dtype=np.float64))[::-1] for s in scores]

    def evaluate(t):
        counts = group_counts(sorted_desc, floors, t, divisors, totals)
        return counts, cost(counts)

    finite = [s[np.isfinite(s)] for s in sorted_desc]
    top = max([float(s[0]) for s in finite if len(s)] + [0.0])
    lo, hi = 0.0, math.nextafter(top, math.inf) if top > 0 else 1.0
    check_feasible(totals, floors, cost, target, tolerance, divisors, what)
    counts_all, most = evaluate(-math.inf)
    counts_floor, least = evaluate(math.inf)
    best = (miss(most, target, tolerance, upper_bound), -math.inf, counts_all, most)
    floors_only = (miss(least, target, tolerance, upper_bound), math.inf, counts_floor, least)
    history = [[-math.inf, most], [math.inf, least]]
    if floors_only[0] < best[0]:
        best = floors_only
    iterations, converged = 0, best[0] <= tolerance
    while not converged and iterations < max_iterations:
        iterations += 1
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:   # the interval cannot be split further: a single unit's step
            break
        counts, value = evaluate(mid)
        history.append([mid, value])
        err = miss(value, target, tolerance, upper_bound)
        if err < best[0]:
            best = (err, mid, counts, value)
        if err <= tolerance:
            converged = True
        elif value > target:
            lo = mid
        else:
            hi = mid
    err, threshold, counts, value = best
    if err > tolerance:   # coarse steps (few units, channel divisors): refine group by group
        counts, value, steps = _refine(counts, cost, target, tolerance, floors, divisors, totals, upper_bound)
        iterations += steps
        converged = miss(value, target, tolerance, upper_bound) <= tolerance
    keep_units = [np.sort(np.argsort(-np.asarray(s, dtype=np.float64), kind='stable')[:k])
                  for s, k in zip(scores, counts)]
    return SearchResult(float(threshold), counts, keep_units, float(value), float(target), iterations,
                        bool(converged), time.perf_counter() - start, history)


def _refine(counts: np.ndarray, cost: Callable[[np.ndarray], float], target: float, tolerance: float,
            floors: np.ndarray, divisors: np.ndarray, totals: np.ndarray, upper_bound: bool = False,
            max_steps: int = 200):
    """Greedy local search on the kept units per group: apply the single-group step (±divisor)
    or, failing that, the pair of opposite steps that gets closest to the target (:func:`miss`);
    stop when within ``tolerance`` or nothing improves."""
    counts = counts.copy()
    value = cost(counts)
    lower = np.minimum(round_up(floors, divisors), totals)

    def moves(c):
        for g in range(len(c)):
            for delta in (-divisors[g], divisors[g]):
                new = min(max(c[g] + delta, lower[g]), totals[g])
                if new != c[g]:
                    trial = c.copy()
                    trial[g] = new
                    yield trial

    def err(c) -> float:
        return miss(cost(c), target, tolerance, upper_bound)

    for step in range(max_steps):
        error = miss(value, target, tolerance, upper_bound)
        if error <= tolerance:
            return counts, value, step
        singles = list(moves(counts))
        candidates = singles
        best = min(((err(t), i) for i, t in enumerate(candidates)), default=(np.inf, -1))
        if best[0] >= error:   # no single step helps: one group up and another down
            candidates = [pair for single in singles for pair in moves(single)
                          if ((pair - counts) > 0).sum() == 1 and ((pair - counts) < 0).sum() == 1]
            best = min(((err(t), i) for i, t in enumerate(candidates)), default=(np.inf, -1))
            if best[0] >= error:
                return counts, value, step
        counts = candidates[best[1]]
        value = cost(counts)
    return counts, value, max_steps

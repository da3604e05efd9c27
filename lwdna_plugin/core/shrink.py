"""The shrink stage end to end: model → groups → widened model → scores → channel config →
pruned LW-DNA model."""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp

from .batches import check_inputs, check_model_runs
from .channel_config import FORMAT, VERSION, group_entries, model_identity, signature_hash, summarize, write_json
from .config import LWDNAConfig
from .errors import ConfigError, InfeasibleTargetError, SearchDivergedError, UnsupportedModelError
from .flops import CostModel
from .groups import CHANNEL_NORM_TYPES, ChannelGraph, build_channel_graph, norm_channels, share_latents
from .hypernet import (HyperScorer, LossFn, OptimizerFactory, _split_batch, _take_fraction, available_bytes,
                       check_hypernet_memory, generated_layer_names, hypernet_bytes, model_device)
from .latency import LatencyModel, LayerTable, WallClockProfiler, cache_dir
from .masking import channel_mixing_types, verify_pruned
from .outputs import Writer, write_outputs
from .report import format_table, layer_table, plot_widths
from .resize import resize_groups, resized_graph, select_units
from .search import SearchResult, bisect_threshold, check_feasible, round_up
from .tracing import ForwardFn, default_forward
from ..version import __version__

logger = logging.getLogger('lwdna_plugin')


@dataclass
class ShrinkResult:
    """What :func:`shrink` found. ``model`` is the LW-DNA network (plain layers) freshly
    initialised the architecture's way — what :func:`apply_channel_config` builds from
    ``channel_config`` — ready to train from scratch (LW-DNA's protocol).

    ``searched_model`` is the same architecture holding the search's weights (the widened
    network's generated weights after the search steps, sliced): what the exactness probe
    compares with ``widened``. It is a by-product of the search, **not for training, evaluation
    or export** (after the SGD steps its weights and BatchNorm statistics can be huge or
    infinite, and its eval output NaN)."""

    model: nn.Module
    channel_config: Dict[str, Any]
    baseline: nn.Module
    widened: nn.Module                 # widened model holding the generated weights
    searched_model: nn.Module          # ``widened`` with the removed channels sliced off
    widened_graph: ChannelGraph
    keep_unit: np.ndarray              # per unit of the widened graph: kept?
    scores: np.ndarray
    search: SearchResult
    table: List[Dict[str, Any]] = field(default_factory=list)

    def summary(self) -> Dict[str, Any]:
        """Baseline vs LW-DNA FLOPs / params and the shrink time, for logs."""
        return summarize(self.channel_config)

    def output_writers(self, prefix: str = 'lwdna') -> Dict[str, Writer]:
        """File name → writer of the report, the plot and the channel config (last: readers
        look for it)."""
        title = f'LW-DNA {self.channel_config["model"]["name"] or ""}'.strip()

        def report(path: str) -> None:
            with open(path, 'w') as f:
                f.write('# LW-DNA channel report\n\n' + format_table(self.table, self.summary()))
        return {f'{prefix}_report.md': report,
                f'{prefix}_channels.png': lambda path: plot_widths(self.table, path, title=title),
                f'{prefix}_channels.json': lambda path: write_json(self.channel_config, path)}

    def save(self, out_dir: str | os.PathLike, prefix: str = 'lwdna', overwrite: bool = False) -> Dict[str, str]:
        """Write ``{prefix}_channels.json``, ``{prefix}_report.md`` and ``{prefix}_channels.png``
        into ``out_dir`` (all or none); an :class:`OutputError` if one exists and not ``overwrite``.
        Returns their paths under the keys 'channel_config', 'report' and 'plot'."""
        paths = write_outputs(out_dir, self.output_writers(prefix), overwrite)
        return {'channel_config': paths[f'{prefix}_channels.json'], 'report': paths[f'{prefix}_report.md'],
                'plot': paths[f'{prefix}_channels.png']}


@dataclass
class Budget:
    """The search problem known before scoring: the widened unit counts, the floors and the
    cost of keeping given units per prunable group, against the target."""

    cfg: LWDNAConfig
    divisors: List[int]
    widened_units: Dict[int, int]
    prunable_idx: np.ndarray
    floors: List[int]
    target: float
    measure: Callable[[np.ndarray], float]
    kept_full: np.ndarray

    latency: Optional[LatencyModel] = None

    @classmethod
    def of(cls, graph: ChannelGraph, cost_model: CostModel, cfg: LWDNAConfig,
           latency: Optional[Callable[[np.ndarray, np.ndarray], LatencyModel]] = None) -> 'Budget':
        """``latency(low, high)`` builds the latency model for kept units between ``low`` and
        ``high`` (needed for a latency target)."""
        divisors = [_unit_divisor(cfg.channel_divisor, g.unit_channels) for g in graph.groups]
        widened = _widened_units(graph, cfg.width_mult, divisors)
        prunable = graph.prunable_groups
        whole = graph.groups_producing(cfg.unpruned_layers)
        floors = [widened[g.index] if g.index in whole else
                  max(1, math.floor((cfg.tau if g.feeds_classifier else cfg.rho) * widened[g.index]))
                  for g in prunable]
        full = cost_model.full_units()
        kept_full = full.copy()
        prunable_idx = np.asarray([g.index for g in prunable])
        kept_full[prunable_idx] = [widened[g.index] for g in prunable]
        if cfg.target_kind == 'latency':
            low = full.copy()
            low[prunable_idx] = [min(round_up(f, divisors[g.index]), widened[g.index])
                                 for f, g in zip(floors, prunable)]
            model = latency(low, kept_full.copy())
            measure, baseline = model.predict, model.baseline_s
        else:
            model = None
            measure = cost_model.flops if cfg.target_kind == 'flops' else cost_model.params
            baseline = measure(full)
        return cls(cfg, divisors, widened, prunable_idx, floors, cfg.absolute_target(baseline), measure,
                   kept_full, model)

    @property
    def prunable_divisors(self) -> List[int]:
        return [self.divisors[i] for i in self.prunable_idx]

    def cost(self, counts: np.ndarray) -> float:
        """FLOPs / params with ``counts`` units kept in the prunable groups (others widened)."""
        self.kept_full[self.prunable_idx] = counts
        return self.measure(self.kept_full)

    def search(self, scores: List[np.ndarray]) -> SearchResult:
        """The bisection over the prunable groups' unit scores; a latency target is an upper
        bound (coarse steps keep the closest network under it)."""
        return bisect_threshold(scores, self.floors, self.cost, self.target, self.cfg.tolerance,
                                self.cfg.max_iterations, self.prunable_divisors, what=self.cfg.target_kind,
                                upper_bound=self.latency is not None)

    def check(self) -> None:
        """Raise :class:`InfeasibleTargetError` if the floors alone exceed the target, or the
        whole widened network stays below it."""
        totals = [self.widened_units[i] for i in self.prunable_idx]
        hint = 'lower rho / tau' + (', drop unpruned_layers' if self.cfg.unpruned_layers else '')
        check_feasible(totals, self.floors, self.cost, self.target, self.cfg.tolerance, self.prunable_divisors,
                       what=self.cfg.target_kind, floor_hint=hint)


def check_target(model: nn.Module, example_inputs: Any, cfg: LWDNAConfig,
                 forward_fn: Optional[ForwardFn] = None) -> None:
    """Raise :class:`InfeasibleTargetError` (or :class:`ConfigError`) if ``cfg`` cannot be met on
    ``model`` whatever the scores: a check for the zoo adapters to run before they set up a run.
    A latency target is checked by timing, on ``cfg.latency_device`` (default: ``model``'s): the
    layer table (cached, so the shrink that follows times no layer again) and the baseline and
    floors networks on one sample of ``example_inputs`` repeated to ``latency_batch``."""
    cfg = _for_run_device(cfg, model)
    graph, cfg = _channel_graph(model, example_inputs, cfg, forward_fn)
    cost_model = CostModel(graph)
    latency = latency_builder(graph, cost_model, cfg, _first_sample(example_inputs), forward_fn) \
        if cfg.target_kind == 'latency' else None
    Budget.of(graph, cost_model, cfg, latency).check()


def _for_run_device(cfg: LWDNAConfig, model: nn.Module) -> LWDNAConfig:
    """``cfg`` validated, ``channel_divisor='auto'`` resolved for the device the network will run
    on: the latency device if one is named, else the model's."""
    cfg.validate()
    return cfg.for_device(cfg.latency_device or model_device(model))


def latency_builder(graph: ChannelGraph, cost_model: CostModel, cfg: LWDNAConfig, example: Any,
                    forward_fn: Optional[ForwardFn], profiler: Any = None
                    ) -> Callable[[np.ndarray, np.ndarray], LatencyModel]:
    """What :meth:`Budget.of` builds the latency model with: ``profiler`` (default a
    :class:`WallClockProfiler` on ``cfg``'s latency device, dtype and batch) times the layers
    and the networks; the layer table is cached unless ``cfg.latency_cache`` is False."""
    if profiler is None:
        profiler = WallClockProfiler(cfg.latency_device or model_device(graph.model), cfg.latency_dtype,
                                     cfg.latency_batch)

    def build_network(kept: np.ndarray) -> nn.Module:
        return resize_groups(graph, {g.index: int(kept[g.index]) for g in graph.prunable_groups},
                             init_like_baseline=False)

    def build(low: np.ndarray, high: np.ndarray) -> LatencyModel:
        table = LayerTable(profiler, cache_dir() if cfg.latency_cache else None)
        model = LatencyModel(graph, cost_model, low, high, example, forward_fn, profiler, table, build_network)
        logger.info('latency table: %d layers, %d points measured, %d from the cache, in %.1f s; baseline %.3f ms, '
                    'floors %.3f ms (measured in %.1f s in all)', model.layers, table.measured, table.reused,
                    model.table_s, 1e3 * model.baseline_s, 1e3 * model.low_s, model.build_s)
        return model
    return build


def _channel_graph(model: nn.Module, example_inputs: Any, cfg: LWDNAConfig,
                   forward_fn: Optional[ForwardFn]) -> Tuple[ChannelGraph, LWDNAConfig]:
    """The model's channel groups, and ``cfg`` with the layers added to ``ignored_layers`` whose
    channel coupling changes with the width (a stream shuffled more times than its channels
    halve: ShuffleNetV2's later stages), which are kept at their width."""
    def group(cfg: LWDNAConfig, kept_whole: Optional[Dict[str, str]] = None) -> ChannelGraph:
        return share_latents(build_channel_graph(model, example_inputs, forward_fn, cfg.ignored_layers,
                                                 cfg.grouping_timeout_s, cfg.keep_unmodelled_blocks, kept_whole),
                             cfg.channels_per_latent)
    graph = group(cfg)
    normalized = normalized_layers(graph) if cfg.keep_normalized_widths else []
    if normalized:
        cfg = dataclasses.replace(cfg, ignored_layers=tuple(cfg.ignored_layers) + tuple(normalized))
        graph = group(cfg, graph.kept_whole)
    if graph.shuffles:
        varying = width_dependent_layers(graph, cfg, example_inputs, forward_fn)
        if varying:   # the shrink warns (its warnings are logged and recorded together)
            cfg = dataclasses.replace(cfg, ignored_layers=tuple(cfg.ignored_layers) + tuple(varying))
            graph = group(cfg, graph.kept_whole)
    if not graph.prunable_groups:
        kept = '; '.join(f'{name!r} kept whole: it {why}' for name, why in graph.kept_whole.items())
        raise UnsupportedModelError(f'{type(model).__name__} has no prunable channel group' +
                                    (f' ({kept})' if kept else ''))
    return graph, cfg


def kept_whole_warnings(graph: ChannelGraph) -> List[str]:
    """One warning per reason a module is kept whole (:mod:`.kept_whole`), naming the modules."""
    by_reason: Dict[str, List[str]] = {}
    for name, reason in graph.kept_whole.items():
        by_reason.setdefault(reason, []).append(name)
    return [f'{len(names)} module(s) kept whole, not widened or pruned, with the channels they read and write '
            f'({", ".join(names[:3])}{", ..." if len(names) > 3 else ""}): each {why}'
            for why, names in by_reason.items()]


def normalized_layers(graph: ChannelGraph) -> List[str]:
    """One LayerNorm / GroupNorm over the channels of every prunable group that one normalises."""
    found = {}
    for name, module in graph.modules.items():
        dim = graph.dims.get((name, 'out'))
        if isinstance(module, CHANNEL_NORM_TYPES) and norm_channels(module) is not None and dim is not None:
            for g in np.unique(graph.unit_group[graph.slot_unit[dim.offset:dim.offset + dim.size]]):
                if g >= 0 and not graph.groups[g].fixed:
                    found.setdefault(int(g), name)
    return sorted(set(found.values()))


def width_dependent_layers(graph: ChannelGraph, cfg: LWDNAConfig, example_inputs: Any,
                           forward_fn: Optional[ForwardFn]) -> List[str]:
    """One layer of every prunable group whose units are not what widening assumes: the widened
    model traced again must hold the same groups with the widened unit counts and the same
    channel-to-unit pattern in every layer. A channel shuffle ties channels by position, so a
    stream shuffled often enough couples all its channels in a way that depends on their number."""
    units = _widened_units(graph, cfg.width_mult)
    widened = resize_groups(graph, units, init_like_baseline=False)
    expected = resized_graph(graph, widened, units)
    traced = share_latents(build_channel_graph(widened, example_inputs, forward_fn, cfg.ignored_layers,
                                               cfg.grouping_timeout_s, kept_whole=graph.kept_whole),
                           cfg.channels_per_latent)
    modules = dict(graph.model.named_modules())
    varying = []
    for g in expected.prunable_groups:
        same = all(key in traced.dims and _pattern(traced.units_of(*key)) == _pattern(expected.units_of(*key))
                   for key in ((m.rsplit(':', 1)[0], m.rsplit(':', 1)[1]) for m in g.members))
        if not same:
            varying.append(next(m.rsplit(':', 1)[0] for m in g.members if m.rsplit(':', 1)[0] in modules))
    return varying


def _pattern(units: np.ndarray) -> List[int]:
    """Unit ids relabelled by first occurrence: the partition of a dim's channels into units."""
    first: Dict[int, int] = {}
    return [first.setdefault(int(u), len(first)) for u in units]


SEARCH_RETRIES = 3   # a diverging search is repeated at search_lr / 10, / 100, / 1000


class _Replay:
    """The scoring batches, read once from the caller's iterable and kept, so that a search
    repeated at a lower rate sees exactly the same batches."""

    def __init__(self, batches: Iterable):
        self.source, self.seen = iter(batches), []

    def batches(self) -> Iterator:
        yield from self.seen
        for batch in self.source:
            self.seen.append(batch)
            yield batch


def _widen_and_score(base_graph: ChannelGraph, budget: 'Budget', cfg: LWDNAConfig, batches: Iterable,
                     loss_fn: LossFn, forward_fn: Optional[ForwardFn], first_inputs: Any, timings: Dict[str, float],
                     make_optimizer: OptimizerFactory) -> Tuple[nn.Module, ChannelGraph, HyperScorer, np.ndarray]:
    """The widened network, its graph, the scorer and the unit scores; the widened network holds
    the generated weights after the search steps. Raises :class:`SearchDivergedError` if the
    steps made the loss, the scores or the network's float32 output non-finite."""
    t = time.perf_counter()
    # the scoring network keeps PyTorch's default init for its plain layers (as in 0.2.0: same scores)
    widened = resize_groups(base_graph, budget.widened_units, weights_set_later=generated_layer_names(base_graph),
                            init_like_baseline=False)
    wide_graph = resized_graph(base_graph, widened, budget.widened_units)
    timings['widen_s'] = time.perf_counter() - t
    t = time.perf_counter()
    trainable = cfg.criterion != 'gradient_sum'
    device = next(widened.parameters()).device
    check_hypernet_memory(hypernet_bytes(wide_graph, cfg.embedding_dim, trainable), available_bytes(device))
    scorer = HyperScorer(wide_graph, cfg.embedding_dim, cfg.seed, trainable=trainable)
    timings['hypernet_s'] = time.perf_counter() - t
    t = time.perf_counter()
    scores = scorer.score(widened, batches, loss_fn, cfg.num_batches, cfg.batch_fraction, forward_fn,
                          progress=lambda i, loss: logger.info('scored batch %d/%d (loss %.4f)', i, cfg.num_batches, loss),
                          criterion=cfg.criterion, make_optimizer=make_optimizer)
    timings['scoring_s'] = time.perf_counter() - t
    scorer.write_weights(widened)
    if trainable:
        _check_still_computes(widened, first_inputs, forward_fn)
    return widened, wide_graph, scorer, scores


@torch.no_grad()
def _check_still_computes(widened: nn.Module, inputs: Any, forward_fn: Optional[ForwardFn]) -> None:
    """Raise :class:`SearchDivergedError` if the widened network after the search steps gives a
    non-finite float32 output on the first scoring batch in train mode, as the search ran it
    (generated weights blown up: the scores came from a network that no longer computes
    anything). Train mode: BatchNorm's running statistics may overflow after the authors' steps
    at lr 0.1 while its batch statistics, which the search uses, stay sound; they are restored."""
    modes = {m: m.training for m in widened.modules()}
    buffers = {name: b.clone() for name, b in widened.named_buffers()}
    try:
        out = (forward_fn or default_forward)(widened.train(), inputs)
    finally:
        for m, mode in modes.items():
            m.training = mode
        for name, b in widened.named_buffers():
            b.copy_(buffers[name])
    if not all(torch.isfinite(t).all() for t in tp.utils.flatten_as_list(out) if torch.is_tensor(t)):
        raise SearchDivergedError("the search diverged: after its steps the widened network's float32 output on the "
                                  'first scoring batch is not finite (the generated weights grew without bound)')


def search_optimizer(cfg: LWDNAConfig, lr: Optional[float] = None) -> OptimizerFactory:
    """The search's optimizer over every trainable tensor (latents included): SGD with
    ``search_lr`` (or ``lr``), ``search_momentum``, ``search_weight_decay`` (the reference's), or
    Adam."""
    lr = cfg.search_lr if lr is None else lr
    if cfg.search_optimizer == 'adam':
        return lambda params: torch.optim.Adam(params, lr=lr, weight_decay=cfg.search_weight_decay)
    return lambda params: InPlaceSGD(params, lr=lr, momentum=cfg.search_momentum,
                                     weight_decay=cfg.search_weight_decay)


class InPlaceSGD(torch.optim.SGD):
    """``torch.optim.SGD`` (no dampening, no Nesterov) whose step updates a parameter in place
    without its momentum buffer when no later step reads that buffer: the scoring loop takes a
    parameter's last step while the latents still move, and the hypernetwork's buffers would
    be several times the network's size. Steps with a buffer are torch's own."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, wd = group['lr'], group['weight_decay']
            for p in group['params']:
                if p.grad is None or p.requires_grad or self.state[p].get('momentum_buffer') is not None:
                    continue
                # frozen after this step (requires_grad False) and never stepped before: its
                # only step is p - lr·(grad + wd·p); a buffer would never be read
                p.mul_(1 - lr * wd).add_(p.grad, alpha=-lr)
                p.grad = None
        return super().step(closure)


def shrink(model: nn.Module, batches: Iterable, loss_fn: LossFn, cfg: LWDNAConfig,
           forward_fn: Optional[ForwardFn] = None, model_name: Optional[str] = None,
           builder: Optional[Dict[str, Any]] = None,
           make_optimizer: Optional[OptimizerFactory] = None, latency_profiler: Any = None) -> ShrinkResult:
    """Find the LW-DNA version of ``model`` (left unchanged) and return it pruned.

    ``batches`` yields ``(inputs, targets)`` training batches; ``loss_fn(output, targets)``
    is the task loss; ``forward_fn(model, inputs)`` calls the model (default ``model(inputs)``).
    ``builder`` (JSON-serialisable) is stored in the channel config to say how to rebuild
    the baseline (e.g. ``{'zoo': 'timm', 'name': 'resnet50', 'kwargs': {...}}``).
    ``make_optimizer(params)`` replaces the SGD of ``cfg`` for the search steps
    (``criterion`` 'gradient' / 'magnitude'). ``latency_profiler`` replaces the wall-clock
    timing of a latency target (:class:`~lwdna_plugin.core.latency.WallClockProfiler`'s
    ``cache_key`` / ``layer`` / ``network``).
    """
    _check_model(model)
    checkpointing = checkpointing_flags(model)
    set_flags(model, {key: False for key in checkpointing})   # see checkpointing_flags
    try:
        result = _shrink(model, batches, loss_fn, cfg, forward_fn, model_name, builder, make_optimizer,
                         latency_profiler)
    finally:
        set_flags(model, checkpointing)
    set_flags(result.model, checkpointing)   # the LW-DNA network trains as the baseline was set up to
    return result


def _shrink(model: nn.Module, batches: Iterable, loss_fn: LossFn, cfg: LWDNAConfig,
           forward_fn: Optional[ForwardFn] = None, model_name: Optional[str] = None,
           builder: Optional[Dict[str, Any]] = None,
           make_optimizer: Optional[OptimizerFactory] = None, latency_profiler: Any = None) -> ShrinkResult:
    """:func:`shrink` with gradient checkpointing off."""
    if not isinstance(cfg, LWDNAConfig):
        raise ConfigError(f'cfg must be an LWDNAConfig, got {type(cfg).__name__}')
    cfg = _for_run_device(cfg, model)   # the channel config records the divisor used
    timings: Dict[str, float] = {}
    t_start = time.perf_counter()
    iterator = iter(batches)
    try:
        first = next(iterator)
    except StopIteration:
        raise ConfigError('no training batch to score the channels with: the batches / dataloader is empty') from None
    first_inputs = _split_batch(first)[0]
    check_inputs(_take_fraction(first_inputs, cfg.batch_fraction), model, 1)
    example = _first_sample(first_inputs)
    check_model_runs(model, example, forward_fn)   # bad data fails here, before the long steps
    batches = itertools.chain([first], iterator)

    t = time.perf_counter()
    asked = tuple(cfg.ignored_layers)
    base_graph, cfg = _channel_graph(model, example, cfg, forward_fn)
    warnings: List[str] = [f'kept at their width, their channel shuffles coupling the channels differently at the '
                           f'widened width: the groups of {", ".join(cfg.ignored_layers[len(asked):])}'
                           ] if len(cfg.ignored_layers) > len(asked) else []
    warnings += kept_whole_warnings(base_graph)
    base_cost = CostModel(base_graph)
    full = base_cost.full_units()
    base_flops, base_params = base_cost.flops(full), base_cost.params(full)
    timings['grouping_s'] = time.perf_counter() - t
    logger.info('grouped %d channel groups (%d prunable) in %.2f s', len(base_graph.groups),
                len(base_graph.prunable_groups), timings['grouping_s'])

    t = time.perf_counter()
    latency = latency_builder(base_graph, base_cost, cfg, example, forward_fn, latency_profiler) \
        if cfg.target_kind == 'latency' else None
    budget = Budget.of(base_graph, base_cost, cfg, latency)
    if budget.latency is not None:
        timings['latency_model_s'] = time.perf_counter() - t
    budget.check()   # an unreachable target fails here, before any widening or scoring

    replay = _Replay(batches)   # a search repeated at a lower rate scores on the same batches
    lr, retries = cfg.search_lr, SEARCH_RETRIES if make_optimizer is None and cfg.criterion != 'gradient_sum' else 0
    for attempt in range(retries + 1):
        try:
            widened, wide_graph, scorer, scores = _widen_and_score(
                base_graph, budget, cfg, replay.batches(), loss_fn, forward_fn,
                _take_fraction(first_inputs, cfg.batch_fraction), timings,
                make_optimizer or search_optimizer(cfg, lr))
            break
        except SearchDivergedError as e:
            if attempt == retries:
                if retries:
                    raise SearchDivergedError(f'{e} (also at search_lr {lr:g}, after {retries} tenfold reductions '
                                              f'from {cfg.search_lr:g})') from e
                raise
            warnings.append(f'the search diverged at search_lr {lr:g} ({e}); repeated on the same batches at '
                            f'{lr / 10:g}')
            lr /= 10
    wide_full = np.asarray([g.num_units for g in wide_graph.groups], dtype=np.float64)
    logger.info('widened x%.2f: %.4g -> %.4g GFLOPs', cfg.width_mult, base_flops / 1e9,
                base_cost.flops(wide_full) / 1e9)

    prunable = wide_graph.prunable_groups
    floors, target = budget.floors, budget.target
    kept_full, prunable_idx = budget.kept_full, budget.prunable_idx
    if cfg.criterion != 'magnitude' and not scores[np.concatenate([g.units for g in prunable])].any():
        raise ConfigError('every channel scored 0: the loss does not depend on the channels on these batches '
                          '(a single class? a constant or detached loss?); the architecture would be arbitrary')

    if scorer.batches_used < cfg.num_batches:
        warnings.append(f'only {scorer.batches_used} of the {cfg.num_batches} scoring batches (num_batches) were '
                        'given: the dataloader has fewer')
    search = budget.search([scores[g.units] for g in prunable])
    latency_report = None
    if budget.latency is not None:
        search, latency_report = _search_measured_latency(budget, [scores[g.units] for g in prunable], search)
        off = latency_report['measured_s'] / target - 1
        measured = (f'the LW-DNA network measured {100 * off:+.1f} % from the latency target after '
                    f'{len(latency_report["rounds"])} rounds: ')
        if off > LATENCY_ABOVE:
            warnings.append(measured + 'the floors or the timing noise of this device keep it above; lower rho / '
                            'tau or measure with a larger latency_batch')
        elif off < -LATENCY_BELOW:
            warnings.append(measured + 'it keeps fewer channels than the budget allows (the channel steps of this '
                            'model are too coarse, or the timing noise of this device too large, to land closer)')
    timings['search_s'] = search.time_s
    logger.info('bisection: %d iterations, %s %.6g (target %.6g) in %.3f s', search.iterations,
                cfg.target_kind, search.value, target, search.time_s)

    if not search.converged and budget.latency is None:   # latency: the measured window above decides
        warnings.append(f'the search ended {100 * (search.value / target - 1):+.2f} % from the {cfg.target_kind} '
                        f'target (tolerance {100 * cfg.tolerance:.2g} %): the channel steps of this model are too '
                        'coarse for it')
    for message in warnings:
        logger.warning('warning: %s', message)

    t = time.perf_counter()
    keep_unit = np.ones(len(wide_graph.unit_group), dtype=bool)
    keep_local = {g.index: np.arange(g.num_units) for g in wide_graph.groups}
    for g, keep in zip(prunable, search.keep_units):
        keep_unit[g.units] = False
        keep_unit[g.units[keep]] = True
        keep_local[g.index] = keep
    searched = select_units(wide_graph, keep_unit)
    probe_error = verify_pruned(wide_graph, keep_unit, searched, example, forward_fn)
    kept_full[prunable_idx] = [len(keep) for keep in search.keep_units]
    lw_flops, lw_params = base_cost.flops(kept_full), base_cost.params(kept_full)   # tests count them on the model
    # the network to train: the baseline with the kept widths, initialised like the baseline
    lwdna = resize_groups(base_graph, {g.index: len(keep_local[g.index]) for g in base_graph.prunable_groups})
    table = layer_table(model, lwdna)
    timings['prune_s'] = time.perf_counter() - t
    timings['total_s'] = time.perf_counter() - t_start   # the rest only assembles the channel config
    all_floors = {g.index: f for g, f in zip(prunable, floors)}
    config = {
        'format': FORMAT, 'version': VERSION,
        'model': {**model_identity(model, model_name), 'builder': builder},
        'input_shape': list(example.shape) if torch.is_tensor(example) else None,
        'width_mult': cfg.width_mult,
        'hyperparameters': cfg.to_dict(),
        'signature': base_graph.signature(),
        'signature_hash': signature_hash(base_graph),
        'groups': group_entries(base_graph, wide_graph, [keep_local[g.index] for g in wide_graph.groups],
                                [all_floors.get(g.index, g.num_units) for g in wide_graph.groups]),
        'target': {'kind': cfg.target_kind, 'value': target},
        'flops': {'baseline': base_flops, 'widened': base_cost.flops(wide_full),
                  'lwdna': float(lw_flops)},
        'params': {'baseline': base_params, 'widened': base_cost.params(wide_full),
                   'lwdna': float(lw_params)},
        'protocol': {'criterion': cfg.criterion,
                     'optimizer': None if cfg.criterion == 'gradient_sum' else 'caller' if make_optimizer else
                     f'{cfg.search_optimizer}(lr={lr:g}, momentum={cfg.search_momentum}, '
                     f'weight_decay={cfg.search_weight_decay})',
                     'search_lr': None if cfg.criterion == 'gradient_sum' or make_optimizer else lr},
        'latency': latency_report,
        'probe_relative_error': probe_error,
        'probe_channel_mixing': channel_mixing_types(searched, wide_graph, keep_unit),
        'search': {'threshold': search.threshold, 'iterations': search.iterations, 'converged': search.converged,
                   'value': search.value, 'relative_error': search.value / target - 1,
                   'scores': {'min': float(scores.min()), 'max': float(scores.max()), 'mean': float(scores.mean())}},
        'warnings': warnings,
        'timings': timings,
        'environment': {'lwdna_plugin': __version__, 'torch': torch.__version__,
                        'torch_pruning': getattr(tp, '__version__', '?'), 'python': platform.python_version()},
    }
    result = ShrinkResult(lwdna, json.loads(json.dumps(config)), model, widened, searched, wide_graph, keep_unit,
                          scores, search, table)
    logger.info('summary: %s', result.summary())
    return result


LATENCY_ROUNDS = 4          # searches with the prediction corrected by a measured network
LATENCY_ABOVE = 0.01        # a measured network within (1 - LATENCY_BELOW, 1 + LATENCY_ABOVE) · target
LATENCY_BELOW = 0.03        # ends the rounds: a budget is an upper bound, so the window is lopsided


def _search_measured_latency(budget: Budget, scores: List[np.ndarray], search: SearchResult
                             ) -> Tuple[SearchResult, Dict[str, Any]]:
    """Measure the network ``search`` chose; while it is outside the window
    ``(1 - LATENCY_BELOW, 1 + LATENCY_ABOVE) · target``, rescale the prediction to that
    measurement and search again (at most :data:`LATENCY_ROUNDS` searches; none once a search
    returns a network already measured). Each search keeps the network closest to the target
    from below where the channel steps cannot come within the tolerance. Returns the slowest
    round measured at most ``(1 + LATENCY_ABOVE) · target`` (else the fastest) and the latency
    report: each round's prediction (made before its network was measured) and measurement."""
    latency = budget.latency
    rounds, searches = [], []

    for i in range(LATENCY_ROUNDS):
        if i:
            try:
                search = budget.search(scores)
            except InfeasibleTargetError:   # the correction put the floors out of reach: damp it
                latency.damp()
                try:
                    search = budget.search(scores)
                except InfeasibleTargetError as e:
                    logger.warning('warning: latency round %d: %s', i + 1, e)
                    break
            if any(np.array_equal(search.kept, s.kept) for s in searches):
                logger.info('latency round %d: the corrected search chose a network already measured (the '
                            'channel steps are coarser than the correction)', i + 1)
                break
        kept = budget.kept_full.copy()
        kept[budget.prunable_idx] = search.kept
        measured = latency.measure(kept)
        rounds.append({'predicted_s': search.value, 'measured_s': measured})
        searches.append(search)
        logger.info('latency round %d: predicted %.3f ms, measured %.3f ms (%+.1f %%), target %.3f ms', i + 1,
                    1e3 * search.value, 1e3 * measured, 100 * (search.value / measured - 1), 1e3 * budget.target)
        if -LATENCY_BELOW <= measured / budget.target - 1 <= LATENCY_ABOVE:
            break
        latency.correct(kept, measured)
    within = [i for i, r in enumerate(rounds) if r['measured_s'] <= budget.target * (1 + LATENCY_ABOVE)]
    best = max(within, key=lambda i: rounds[i]['measured_s']) if within else \
        min(range(len(rounds)), key=lambda i: rounds[i]['measured_s'])
    report = {**latency.summary(), 'target_s': budget.target, 'predicted_s': rounds[best]['predicted_s'],
              'measured_s': rounds[best]['measured_s'],
              'relative_error': rounds[best]['predicted_s'] / rounds[best]['measured_s'] - 1,
              'rounds': rounds, 'chosen_round': best + 1}
    return searches[best], report


def widen(model: nn.Module, example_inputs: Any, width_mult: float, forward_fn: Optional[ForwardFn] = None,
          ignored_layers: Sequence[str] = ()) -> nn.Module:
    """A freshly initialised copy of ``model`` with every prunable channel group widened to
    ``round(width_mult · units)`` units; the network input and output keep their shapes."""
    if not isinstance(width_mult, (int, float)) or width_mult < 1:
        raise ConfigError(f'width_mult must be >= 1, got {width_mult!r}')
    graph = build_channel_graph(model, example_inputs, forward_fn, ignored_layers)
    return resize_groups(graph, _widened_units(graph, width_mult))


CHECKPOINTING_FLAGS = ('grad_checkpointing', 'with_cp')   # timm; mmpretrain / mmcv blocks


def checkpointing_flags(model: nn.Module) -> Dict[Tuple[str, str], bool]:
    """(module name, flag) → value for every gradient-checkpointing switch that is on. The
    scoring copy runs without them: a checkpointed block recomputes its forward with the
    module's own (never written) weights instead of the generated ones, which gives random or
    NaN scores."""
    return {(name, flag): True for name, module in model.named_modules() for flag in CHECKPOINTING_FLAGS
            if getattr(module, flag, None) is True}


def set_flags(model: nn.Module, flags: Dict[Tuple[str, str], bool]) -> None:
    modules = dict(model.named_modules())
    for (name, flag), value in flags.items():
        if name in modules:
            setattr(modules[name], flag, value)


def _widened_units(graph: ChannelGraph, width_mult: float, divisors: Optional[List[int]] = None) -> Dict[int, int]:
    """round(width_mult · units) per prunable group (at least 1), rounded up to its divisor."""
    return {g.index: round_up(max(1, math.floor(width_mult * g.num_units + 0.5)),
                               divisors[g.index] if divisors else 1) for g in graph.prunable_groups}


def _check_model(model: Any) -> None:
    """``model`` is an ``nn.Module`` with float32 or float64 parameters: the hypernetwork
    generates float32 weights (train in half precision afterwards, with autocast)."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f'shrink needs an nn.Module (a network with layers to widen), got {type(model).__name__}')
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if dtypes - {torch.float32, torch.float64}:
        raise ConfigError(f'the model has {", ".join(sorted(str(d) for d in dtypes))} parameters: the search runs in '
                          'float32 (call model.float() first; the LW-DNA network trains in half precision with '
                          'autocast as the baseline would)')


def _first_sample(inputs: Any) -> Any:
    if torch.is_tensor(inputs):
        return inputs[:1]
    if isinstance(inputs, list):
        return inputs[:1]
    if isinstance(inputs, tuple):
        return tuple(_first_sample(x) for x in inputs)
    if isinstance(inputs, dict):
        return {k: _first_sample(v) for k, v in inputs.items()}
    return inputs


def _unit_divisor(channel_divisor: int, unit_channels: int) -> int:
    """Units per step so that kept channels are multiples of ``channel_divisor``."""
    return max(1, channel_divisor // math.gcd(channel_divisor, max(1, unit_channels)))



"""Latency of a channel graph's model as a function of kept units per group, for the
``latency_target`` search.

The prediction has two parts. Every conv / linear layer is looked up in a **layer table**:
its latency measured on the chosen device, dtype and batch at the corners of the channel
range the search can give it (all groups at their floors .. all widened), with channel
counts rounded up to multiples of the device's channel block (:func:`channel_quantum`),
and interpolated bilinearly in (input, output) channels in between — the form of a layer's
cost (a constant, a memory term in each of the two counts, a compute term in their product).
Everything else (norms, activations, additions, pooling, the framework's per-op overhead) is
the **rest**: ``a · E + b``, where E is the traced ops' output elements (which scale with
their channels), fitted on two whole networks measured at full batch: the baseline and the
network with every group at its floor. The layer table is cached on disk, keyed by the
device, dtype, batch, thread count and library versions.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import platform
import tempfile
import time
from dataclasses import astuple, dataclass
from math import prod
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch.utils._pytree import tree_map

from .flops import CostModel
from .channel_graph import ChannelGraph
from .layer_types import CONV_TYPES
from .search import round_up
from .tracing import ForwardFn, OpRecord, default_forward
from ..version import __version__

logger = logging.getLogger('lwdna_plugin')

MAX_MEASURE_BATCH = 8       # layers of larger batches are timed at this batch and scaled (linear there)
NETWORK_ROUNDS = 5          # interleaved rounds at least when whole networks are timed (their ratio: ~1 % noise)
CALIBRATION_ROUNDS = 3      # for the two networks the rest is fitted on (their error is corrected in the rounds)
DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}
_VIEWS = ('view', 'reshape', 'flatten', 'unflatten', 'permute', 'transpose', 't', 'squeeze', 'unsqueeze',
          'expand', 'getitem', 'split', 'chunk', 'split_with_sizes', 'narrow', 'unbind', 'detach', 'contiguous')


@dataclass(frozen=True)
class LayerSpec:
    """A conv or linear layer up to its channel counts: what one table row is measured on."""

    func: str                       # 'conv1d' / 'conv2d' / 'conv3d' / 'linear'
    shape: Tuple[int, ...]          # conv: spatial input size; linear: input dims between batch and channels
    kernel: Tuple[int, ...] = ()
    stride: Tuple[int, ...] = ()
    padding: Any = ()
    dilation: Tuple[int, ...] = ()
    in_per_group: int = 0           # grouped / depthwise conv: channels per group (0: dense)
    out_per_group: int = 0
    bias: bool = False
    groups: int = 1                 # a group conv pruned by position: its groups, whatever its channels

    @property
    def grouped(self) -> bool:
        return self.in_per_group > 0

    def name(self) -> str:
        return json.dumps(astuple(self), separators=(',', ':'))

    def build(self, ci: int, co: int, device: torch.device, dtype: torch.dtype) -> nn.Module:
        """The layer with ``ci`` -> ``co`` channels (random weights)."""
        if self.func == 'linear':
            layer = nn.Linear(ci, co, bias=self.bias, device=device, dtype=dtype)
        else:
            conv = {'conv1d': nn.Conv1d, 'conv2d': nn.Conv2d, 'conv3d': nn.Conv3d}[self.func]
            groups = co // self.out_per_group if self.grouped else self.groups
            layer = conv(ci, co, self.kernel, self.stride, self.padding, self.dilation, groups, self.bias,
                         device=device, dtype=dtype)
        return layer.eval()

    def example(self, batch: int, ci: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        shape = (batch, *self.shape, ci) if self.func == 'linear' else (batch, ci, *self.shape)
        return torch.randn(shape, device=device, dtype=dtype)


def layer_spec(rec: OpRecord, by_position: bool = False) -> Optional[LayerSpec]:
    """The spec of a traced conv / linear op of a plain layer; None for any other op.
    ``by_position``: a group conv that keeps its groups (:attr:`ChannelGraph.convs_by_position`)."""
    module = rec.module_obj
    if rec.func == 'linear' and isinstance(module, nn.Linear):
        return LayerSpec('linear', tuple(rec.in_shapes[0][1:-1]), bias=module.bias is not None)
    if rec.func in ('conv1d', 'conv2d', 'conv3d') and isinstance(module, CONV_TYPES) \
            and module.padding_mode == 'zeros':
        grouped = module.groups > 1 and not by_position
        return LayerSpec(rec.func, tuple(rec.in_shapes[0][2:]), tuple(module.kernel_size), tuple(module.stride),
                         module.padding if isinstance(module.padding, str) else tuple(module.padding),
                         tuple(module.dilation),
                         module.in_channels // module.groups if grouped else 0,
                         module.out_channels // module.groups if grouped else 0, module.bias is not None,
                         module.groups if by_position else 1)
    return None


def time_rounds(fns: Sequence[Callable[[], Any]], device: torch.device, min_time_s: float = 0.05,
                min_reps: int = 2, max_reps: int = 30, warmup: int = 1) -> np.ndarray:
    """Seconds of each of ``fns`` (columns) in each timed round (rows), after ``warmup``
    interleaved warm-up rounds; every function runs once per round, so drifting noise hits all
    alike; rounds until they last about ``min_time_s`` (``min_reps`` to ``max_reps`` rounds)."""
    def once(fn) -> float:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    with torch.inference_mode():
        for _ in range(warmup):
            for fn in fns:
                once(fn)
        rounds = [[once(fn) for fn in fns]]
        reps = max(min_reps, min(max_reps, math.ceil(min_time_s / max(sum(rounds[0]), 1e-6))))
        rounds += [[once(fn) for fn in fns] for _ in range(reps - 1)]
    return np.asarray(rounds, dtype=np.float64)


def time_calls(fns: Sequence[Callable[[], Any]], device: torch.device, min_time_s: float = 0.05,
               min_reps: int = 2, max_reps: int = 30, warmup: int = 1) -> List[float]:
    """Median seconds of each of ``fns`` over the rounds of :func:`time_rounds`."""
    return np.median(time_rounds(fns, device, min_time_s, min_reps, max_reps, warmup), axis=0).tolist()


def paired_seconds(rounds: np.ndarray) -> List[float]:
    """Seconds per call from :func:`time_rounds`' rounds, the first column the reference: its
    median, and for every other column the reference's median times the median of its
    per-round ratio to the reference (ratios taken within a round cancel the machine's drift,
    which on shared CPUs moves a batch-32 forward pass by several percent between rounds)."""
    reference = float(np.median(rounds[:, 0]))
    return [reference] + [reference * float(np.median(rounds[:, j] / rounds[:, 0])) for j in range(1, rounds.shape[1])]


def channel_quantum(device: torch.device) -> int:
    """The channel block the device's conv kernels work in (a layer with 72 channels costs what
    one with 80 does on a CPU with AVX-512: measured, docs/results.md): 16 on AVX-512 CPUs
    (oneDNN's fp32 blocking), 8 on other CPUs and on CUDA (tensor-core tiles)."""
    if device.type == 'cpu' and torch.backends.cpu.get_cpu_capability().startswith('AVX512'):
        return 16
    return 8


def device_name(device: torch.device) -> str:
    """What the cache keys a device by: the GPU's name, or the CPU's model and thread count."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), cpu)
    except OSError:
        pass
    return f'{cpu} ({torch.get_num_threads()} threads)'


class WallClockProfiler:
    """Times layers and networks on ``device`` in ``dtype`` at ``batch`` (eval mode, inference)."""

    def __init__(self, device: torch.device | str, dtype: str = 'float32', batch: int = 1):
        self.device, self.dtype_name, self.batch = torch.device(device), dtype, batch
        self.dtype = DTYPES[dtype]
        self.measure_batch = min(batch, MAX_MEASURE_BATCH)
        self.quantum = channel_quantum(self.device)

    def cache_key(self) -> Dict[str, Any]:
        return {'device': device_name(self.device), 'dtype': self.dtype_name, 'batch': self.batch,
                'measure_batch': self.measure_batch, 'quantum': self.quantum, 'torch': torch.__version__,
                'lwdna_plugin': __version__}

    def layer(self, spec: LayerSpec, ci: int, co: int) -> float:
        """Seconds of one call of the layer with ``ci`` -> ``co`` channels at :attr:`batch`."""
        layer = spec.build(ci, co, self.device, self.dtype)
        x = spec.example(self.measure_batch, ci, self.device, self.dtype)
        return time_calls([lambda: layer(x)], self.device)[0] * self.batch / self.measure_batch

    def networks(self, models: Sequence[nn.Module], example: Any, forward_fn: Optional[ForwardFn] = None,
                 rounds: int = NETWORK_ROUNDS) -> List[float]:
        """Seconds of one forward pass of each model (copies are moved; the models are left as
        they are) on ``example`` (one sample) repeated to :attr:`batch`, timed interleaved for
        at least ``rounds`` rounds; the first model is the reference of :func:`paired_seconds`."""
        copies = [copy.deepcopy(m).eval().to(self.device, self.dtype) for m in models]
        inputs = tree_map(lambda t: self._batched(t) if torch.is_tensor(t) else t, example)
        forward_fn = forward_fn or default_forward
        return paired_seconds(time_rounds([lambda m=m: forward_fn(m, inputs) for m in copies], self.device,
                                          min_time_s=2.0, min_reps=rounds))

    def _batched(self, t: torch.Tensor) -> torch.Tensor:
        t = t[:1].to(self.device)
        t = t.repeat(self.batch, *([1] * (t.dim() - 1)))
        return t.to(self.dtype) if t.is_floating_point() else t


def cache_dir() -> str:
    """``$LWDNA_CACHE_DIR``, else ``$XDG_CACHE_HOME/lwdna_plugin``, else ``~/.cache/lwdna_plugin``."""
    if os.environ.get('LWDNA_CACHE_DIR'):
        return os.environ['LWDNA_CACHE_DIR']
    return os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'),
                        'lwdna_plugin')


class LayerTable:
    """Measured layer latencies, ``(spec, ci, co) -> seconds``, read from and written to a JSON
    file of the cache directory named after the profiler's key (a changed device, dtype, batch,
    thread count or library version reads another file). Pass ``directory=None`` for no cache."""

    def __init__(self, profiler: Any, directory: Optional[str] = None):
        self.profiler = profiler
        self.key = profiler.cache_key()
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:20]
        self.path = os.path.join(directory, 'latency', f'{digest}.json') if directory else None
        self.entries: Dict[str, float] = self._read()
        self.measured = self.reused = 0

    def __call__(self, spec: LayerSpec, ci: int, co: int) -> float:
        entry = f'{spec.name()}|{ci}|{co}'
        if entry in self.entries:
            self.reused += 1
            return self.entries[entry]
        value = float(self.profiler.layer(spec, ci, co))
        self.measured += 1
        self.entries[entry] = value
        return value

    def save(self) -> None:
        """Write the table (atomically: a reader never sees half a file)."""
        if self.path is None or not self.measured:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), suffix='.tmp')
        with os.fdopen(fd, 'w') as f:
            json.dump({'key': self.key, 'layers': self.entries}, f)
        os.replace(tmp, self.path)

    def _read(self) -> Dict[str, float]:
        if self.path is None or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path) as f:
                data = json.load(f)
            if not isinstance(data, dict) or data.get('key') != self.key or not isinstance(data.get('layers'), dict):
                raise ValueError('not a latency table of this device and these versions')
            entries = data['layers']
            if not all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) and v > 0 for k, v in entries.items()):
                raise ValueError('an entry is not a positive number of seconds')
            return {k: float(v) for k, v in entries.items()}
        except (OSError, ValueError) as e:   # json.JSONDecodeError is a ValueError
            logger.warning('warning: ignoring the latency cache %s (%s); measuring again', self.path, e)
            return {}


class LatencyModel:
    """Predicted seconds of one forward pass (at the profiler's batch) of ``graph``'s model as a
    function of kept units per group, for kept units between ``low`` and ``high``."""

    def __init__(self, graph: ChannelGraph, cost_model: CostModel, low: np.ndarray, high: np.ndarray,
                 example: Any, forward_fn: Optional[ForwardFn], profiler: Any, table: LayerTable,
                 build_network: Callable[[np.ndarray], nn.Module]):
        start = time.perf_counter()
        self.profiler, self.table, self.quantum = profiler, table, profiler.quantum
        self.example, self.forward_fn, self.build_network = example, forward_fn, build_network
        self.cost_model = cost_model
        lo_ch, hi_ch = cost_model.channels(low), cost_model.channels(high)
        ci_row, co_row, ci_fix, co_fix, corners, ci_grid, co_grid, grouped = [], [], [], [], [], [], [], []
        for rec, _ in graph.op_records:
            spec = layer_spec(rec, rec.module in graph.convs_by_position)
            if spec is None:
                continue
            rows = []
            for kind, traced in (('in', rec.in_shapes[0][-1 if spec.func == 'linear' else 1]),
                                 ('out', rec.out_shape[-1 if spec.func == 'linear' else 1])):
                dim = graph.dims.get((rec.module, kind))
                row = cost_model.dim_index.get((dim.key, dim.kind)) if dim is not None else None
                rows.append((row, traced))
            (ri, fi), (ro, fo) = rows
            step = math.lcm(self.quantum, spec.out_per_group if spec.grouped else spec.groups)
            co_axis = self._axis(ro, fo, lo_ch, hi_ch, step)
            if spec.grouped:   # input channels follow the groups; one axis: corners (low, low), (high, high)
                ci_axis = [c * spec.in_per_group // spec.out_per_group for c in co_axis]
                ri, fi = None, -1
                t = [[table(spec, int(ci), int(co))] * 2 for ci, co in zip(ci_axis, co_axis)]
            else:
                ci_axis = self._axis(ri, fi, lo_ch, hi_ch, math.lcm(self.quantum, spec.groups))
                t = [[table(spec, int(ci), int(co)) for co in co_axis] for ci in ci_axis]
            grouped.append(spec.grouped)
            ci_row.append(-1 if ri is None else ri)
            co_row.append(-1 if ro is None else ro)
            ci_fix.append(fi)
            co_fix.append(fo)
            ci_grid.append((ci_axis[0], ci_axis[-1]))
            co_grid.append((co_axis[0], co_axis[-1]))
            corners.append(t)
        self.layers = len(corners)
        self._ci_row, self._co_row = np.asarray(ci_row, dtype=np.int64), np.asarray(co_row, dtype=np.int64)
        self._ci_fix, self._co_fix = np.asarray(ci_fix, dtype=np.float64), np.asarray(co_fix, dtype=np.float64)
        self._grouped = np.asarray(grouped, dtype=bool)
        self._ci_grid = np.asarray(ci_grid, dtype=np.float64).reshape(-1, 2)
        self._co_grid = np.asarray(co_grid, dtype=np.float64).reshape(-1, 2)
        self._corners = np.asarray(corners, dtype=np.float64).reshape(-1, 2, 2)
        self._elements = cost_model.op_measure(_elements)
        table.save()
        self.table_s = time.perf_counter() - start
        # the rest, a·E + b, through the baseline and the all-floors network
        self.scale, self._log_ratio = 1.0, 0.0
        self.baseline = build_network(cost_model.full_units())
        self.baseline_s, self.low_s = profiler.networks([self.baseline, build_network(low)], example, forward_fn,
                                                        rounds=CALIBRATION_ROUNDS)
        self._fit_rest(cost_model.full_units(), self.baseline_s, low, self.low_s)
        self.build_s = time.perf_counter() - start

    @staticmethod
    def _axis(row: Optional[int], traced: int, lo_ch: np.ndarray, hi_ch: np.ndarray, step: int) -> List[int]:
        if row is None or lo_ch[row] == hi_ch[row]:   # a fixed count: two equal corners
            return [int(round(lo_ch[row])) if row is not None else int(traced)] * 2
        return [int(round_up(round(lo_ch[row]), step)), int(round_up(round(hi_ch[row]), step))]

    def layers_s(self, kept: np.ndarray) -> float:
        """Seconds of the conv / linear layers with ``kept`` units (the table's part)."""
        return float(self.layer_times(kept).sum())

    def layer_times(self, kept: np.ndarray) -> np.ndarray:
        """The table's seconds of each conv / linear op (trace order) with ``kept`` units."""
        ch = self.cost_model.channels(kept)
        q = self.quantum
        co = np.where(self._co_row >= 0, np.ceil(ch[self._co_row] / q) * q, self._co_fix)
        # a grouped layer's low corner is rounded to whole groups too, possibly above ceil(c / q) · q
        co = np.where(self._co_row >= 0, np.maximum(co, self._co_grid[:, 0]), co)
        ci = np.where(self._ci_row >= 0, np.ceil(ch[self._ci_row] / q) * q, self._ci_fix)
        u = _fraction(ci, self._ci_grid)
        v = _fraction(co, self._co_grid)
        u = np.where(self._grouped, v, u)   # grouped: one axis
        c = self._corners
        return (1 - u) * ((1 - v) * c[:, 0, 0] + v * c[:, 0, 1]) + u * ((1 - v) * c[:, 1, 0] + v * c[:, 1, 1])

    def predict(self, kept: np.ndarray) -> float:
        """Predicted seconds of one forward pass with ``kept`` units per group."""
        return self.scale * self._unscaled(kept)

    def correct(self, kept: np.ndarray, measured_s: float) -> None:
        """Rescale the prediction by measured / table-predicted of the network measured last,
        the one nearest the search's answer (the table is off by different factors for
        networks of different widths: narrower ones run further from their layers' sum)."""
        self._log_ratio = math.log(measured_s / self._unscaled(kept))
        self.scale = math.exp(self._log_ratio)

    def damp(self) -> None:
        """Average that factor with the baseline's and the floors network's (1: predicted
        exactly): the correction when it would put the floors, measured below it, out of reach."""
        self.scale = math.exp(self._log_ratio / 3)

    def _unscaled(self, kept: np.ndarray) -> float:
        return self.layers_s(kept) + self.rest_per_element * self._elements(kept) + self.rest_const

    def measure(self, kept: np.ndarray) -> float:
        """Measured seconds of one forward pass of the network with ``kept`` units per group,
        timed interleaved with the baseline and scaled by the baseline's drift since the model
        was built (the ratio to the baseline is what is measured)."""
        baseline_now, seconds = self.profiler.networks([self.baseline, self.build_network(kept)], self.example,
                                                       self.forward_fn)
        return seconds * self.baseline_s / baseline_now

    def _fit_rest(self, kept_a: np.ndarray, seconds_a: float, kept_b: np.ndarray, seconds_b: float) -> None:
        ra, rb = seconds_a - self.layers_s(kept_a), seconds_b - self.layers_s(kept_b)
        ea, eb = self._elements(kept_a), self._elements(kept_b)
        slope = (ra - rb) / (ea - eb) if ea != eb else 0.0
        if slope < 0:   # noise or a table above the truth: no per-element part
            slope = 0.0
        self.rest_per_element = slope
        self.rest_const = ra - slope * ea if slope > 0 else 0.5 * (ra + rb)

    def summary(self) -> Dict[str, Any]:
        return {'device': self.table.key.get('device'), 'dtype': self.table.key.get('dtype'),
                'batch': self.table.key.get('batch'), 'layers': self.layers,
                'table_points_measured': self.table.measured, 'table_points_cached': self.table.reused,
                'table_s': self.table_s, 'build_s': self.build_s, 'cache_file': self.table.path and
                os.path.basename(self.table.path), 'baseline_s': self.baseline_s, 'floors_s': self.low_s,
                'rest_per_element_s': self.rest_per_element, 'rest_const_s': self.rest_const, 'scale': self.scale}


def _fraction(value: np.ndarray, grid: np.ndarray) -> np.ndarray:
    span = grid[:, 1] - grid[:, 0]
    return np.where(span > 0, (value - grid[:, 0]) / np.where(span > 0, span, 1), 0.0)


def _elements(rec: OpRecord) -> float:
    """Output elements of an op outside the layer table (views and the table's layers count 0)."""
    if layer_spec(rec) is not None or rec.func in _VIEWS:
        return 0.0
    return float(prod(rec.out_shape))

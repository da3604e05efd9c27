"""FLOPs (multiply-adds) and parameters in the paper's convention, and the per-layer cost
table the search evaluates thousands of candidates with.

Convention (the counter behind the paper's tables, recovered from its figures): conv and
linear count multiply-adds (no bias); batch norm two per element (one if not affine); every
ReLU-type activation (ReLU, ReLU6 / hardtanh, clamp, leaky ReLU, PReLU, ELU, hard-swish,
hard-sigmoid) one per output element; interpolation one per output element. Residual
additions, pooling, sigmoid / SiLU and other ops count zero, and so do computations on weights
(a functional batch norm outside a BatchNorm layer: timm's StdConv2d standardising its
weight). Transformers (not in the paper) extend it the same way: LayerNorm two per element (one
without affine parameters) like batch norm, GELU one per element like ReLU, and attention its
two products, q·kᵀ and the attention times v: N_q · N_k · head_dim multiply-adds per head each
(``scaled_dot_product_attention`` or written as ``@``); the softmax and the scale count zero. It reproduces every baseline of the paper's Table 1 within 0.15 % (ResNet50 at 224²:
4.1210 G vs 4.1177 G, +0.08 %), where counting additions and pooling instead of activations
(mmengine's FlopAnalyzer with ``add_`` / ``max_pool2d`` handlers) matches ResNet50 exactly but
misses the mobile networks by up to 1.5 %.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .channel_graph import ChannelGraph, Dim, within
from .layer_types import CHANNEL_GATES, CONV_TYPES
from .tracing import ForwardFn, OpRecord, default_forward, parameters_traced, record_ops

_ACTIVATIONS = ('relu', 'relu_', 'relu6', 'hardtanh', 'hardtanh_', 'clamp', 'clamp_', 'clip', 'clip_',
                'leaky_relu', 'leaky_relu_', 'prelu', 'elu', 'elu_', 'hardswish', 'hardswish_',
                'hardsigmoid', 'hardsigmoid_', 'gelu')


def op_flops(rec: OpRecord) -> int:
    """Multiply-adds of one recorded op (0 for ops the convention does not count)."""
    if rec.func in ('conv1d', 'conv2d', 'conv3d'):
        weight = rec.in_shapes[1]
        return prod(rec.out_shape) * prod(weight[1:])
    if rec.func == 'linear':
        return prod(rec.out_shape) * rec.in_shapes[1][1]
    if rec.func == 'batch_norm' and isinstance(rec.module_obj, nn.modules.batchnorm._BatchNorm):
        affine = getattr(rec.module_obj, 'affine', True)
        return prod(rec.in_shapes[0]) * (2 if affine else 1)
    if rec.func == 'layer_norm':
        return prod(rec.in_shapes[0]) * (2 if len(rec.in_shapes) > 1 else 1)
    if rec.func in ('matmul', 'bmm') and len(rec.in_shapes) == 2 and min(map(len, rec.in_shapes)) >= 2:
        return prod(rec.out_shape) * rec.in_shapes[0][-1]   # a product of two feature tensors (q·kᵀ, attn·v)
    if rec.func == 'scaled_dot_product_attention':
        q, k, v = rec.in_shapes[:3]
        return prod(q[:-1]) * k[-2] * (q[-1] + v[-1])   # q·kᵀ and its softmax times v
    if rec.func in _ACTIVATIONS:
        return prod(rec.out_shape)
    if rec.func in ('interpolate', 'upsample', 'upsample_nearest', 'upsample_bilinear'):
        return prod(rec.out_shape)
    return 0


def count_flops_params(model: nn.Module, input_shape: Optional[Sequence[int]] = None, inputs: Any = None,
                       forward_fn: Optional[ForwardFn] = None) -> Tuple[int, int]:
    """(multiply-adds, parameters) of one forward pass on ``inputs`` or zeros of ``input_shape``.

    The model runs in eval mode (its mode is restored); give batch size 1 for per-image FLOPs.
    """
    if inputs is None:
        if input_shape is None:
            raise ValueError('count_flops_params needs input_shape or inputs')
        param = next(model.parameters(), None)
        inputs = torch.zeros(tuple(input_shape), device=param.device if param is not None else 'cpu')
    forward_fn = forward_fn or default_forward
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.enable_grad(), record_ops(model) as trace, parameters_traced(model):
            forward_fn(model, inputs)
    finally:
        for m, mode in modes.items():
            m.training = mode
    flops = sum(op_flops(r) for r in trace.records.values())
    params = sum(p.numel() for p in model.parameters())
    return int(flops), int(params)


@dataclass
class _Term:
    value: float            # at the traced sizes
    dims: Tuple[int, ...]   # indices into CostModel's dim table; value scales with each


class CostModel:
    """FLOPs and params of a graph's model as a function of kept units per group.

    Built once from the trace; ``flops(kept)`` / ``params(kept)`` are vectorised numpy
    evaluations (microseconds), exact for every layer type we resize.
    """

    def __init__(self, graph: ChannelGraph):
        self.graph = graph
        self.dim_index: Dict[Tuple[str, str], int] = {}
        rows: List[np.ndarray] = []
        consts: List[float] = []
        self._rows, self._consts = rows, consts
        flops_terms = self._op_terms(op_flops)
        param_terms = self._param_terms()
        for name in graph.modules:   # every layer's and op's channels can be read (:meth:`channels`)
            for dim in graph.layer_dims(name):
                self._dim(dim)
        for _, key in graph.op_records:
            if key is not None and graph.dims.get((key, 'out')) is not None and graph.dims[(key, 'out')].size:
                self._dim(graph.dims[(key, 'out')])
        n_groups = len(graph.groups)
        self.matrix = np.stack(rows) if rows else np.zeros((0, n_groups))
        self.const = np.asarray(consts, dtype=np.float64)
        self.size0 = self.matrix @ self.full_units() + self.const
        self.flops_parts = self._pack(flops_terms)
        self.params_parts = self._pack(param_terms)

    def full_units(self) -> np.ndarray:
        return np.asarray([g.num_units for g in self.graph.groups], dtype=np.float64)

    def flops(self, kept: np.ndarray) -> float:
        return self._evaluate(self.flops_parts, kept)

    def params(self, kept: np.ndarray) -> float:
        return self._evaluate(self.params_parts, kept)

    def channels(self, kept: np.ndarray) -> np.ndarray:
        """Channel count of every dim (index: :attr:`dim_index`) with ``kept`` units per group."""
        return self.matrix @ np.asarray(kept, dtype=np.float64) + self.const

    def op_measure(self, value: Callable[[OpRecord], float]):
        """``value(op)`` of every traced op summed, as a function of kept units: each op's value
        scales with its channels (as FLOPs do). Returns ``kept -> float``."""
        parts = self._pack(self._op_terms(value))
        return lambda kept: self._evaluate(parts, kept)

    # -- building -----------------------------------------------------------------------
    def _dim(self, dim: Optional[Dim]) -> Optional[int]:
        if dim is None:
            return None
        key = (dim.key, dim.kind)
        if key not in self.dim_index:
            row = np.zeros(len(self.graph.groups))
            const = 0.0
            units = self.graph.slot_unit[dim.offset:dim.offset + dim.size]
            groups = self.graph.unit_group[units]
            const = float(np.sum(groups < 0))
            for g, count in zip(*np.unique(groups[groups >= 0], return_counts=True)):
                row[g] = count / self.graph.groups[g].num_units
            self.dim_index[key] = len(self._rows)
            self._rows.append(row)
            self._consts.append(const)
        return self.dim_index[key]

    def _op_terms(self, op_value: Callable[[OpRecord], float]) -> List[_Term]:
        terms = []
        dims = self.graph.dims
        gates = [n for n, m in self.graph.modules.items() if isinstance(m, tuple(CHANNEL_GATES))]
        for rec, key in self.graph.op_records:
            value = op_value(rec)
            if value == 0:
                continue
            module = rec.module_obj
            scale: Tuple[Optional[Dim], ...] = ()
            gate = next((g for g in gates if within(rec.module, g)), None)
            if gate is not None:   # a channel gate's ops run along its channels (ECA's conv over C)
                scale = (dims.get((gate, 'out')),)
            elif rec.func.startswith('conv') and isinstance(module, CONV_TYPES):
                out_dim, in_dim = dims.get((rec.module, 'out')), dims.get((rec.module, 'in'))
                scale = (out_dim,) if self._whole_groups(rec.module, module) else (out_dim, in_dim)
            elif rec.func == 'linear' and isinstance(module, nn.Linear) and rec.module not in self.graph.token_mixing:
                scale = (dims.get((rec.module, 'out')), dims.get((rec.module, 'in')))
            elif rec.func == 'batch_norm' and isinstance(module, nn.modules.batchnorm._BatchNorm):
                scale = (dims.get((rec.module, 'out')),)
            else:
                scale = (dims.get((key, 'out')),) if key is not None else ()
            idx = tuple(i for i in (self._dim(d) for d in scale if d is not None and d.size) if i is not None)
            terms.append(_Term(float(value), idx))
        return terms

    def _param_terms(self) -> List[_Term]:
        terms = []
        for name, module in self.graph.modules.items():
            out_dim, in_dim = self.graph.layer_dims(name)
            own = list(module.parameters(recurse=False))
            if not own:
                continue
            per_channel = {pname: self.graph.dims.get((f'{name}.{pname}' if name else pname, 'out'))
                           for pname, _ in module.named_parameters(recurse=False)}
            if any(per_channel.values()):   # a wrapper holding a per-channel parameter (a layer scale)
                for pname, p in module.named_parameters(recurse=False):
                    dim = per_channel[pname]
                    terms.append(_Term(float(p.numel()), (self._dim(dim),) if dim is not None else ()))
                continue
            shared_slope = isinstance(module, nn.PReLU) and module.num_parameters == 1
            if out_dim is None or out_dim.module is None or shared_slope:
                terms.append(_Term(float(sum(p.numel() for p in own)), ()))
                continue
            o = self._dim(out_dim)
            for pname, p in module.named_parameters(recurse=False):
                if pname == 'weight' and in_dim is not None and not self._whole_groups(name, module):
                    terms.append(_Term(float(p.numel()), (o, self._dim(in_dim))))
                else:
                    terms.append(_Term(float(p.numel()), (o,)))
        return terms

    def _whole_groups(self, name: str, module: nn.Module) -> bool:
        """True for a group conv pruned in whole groups: its cost scales with its outputs alone."""
        return isinstance(module, CONV_TYPES) and module.groups > 1 and name not in self.graph.convs_by_position

    def _pack(self, terms: List[_Term]):
        values = np.asarray([t.value for t in terms], dtype=np.float64)
        first = np.asarray([t.dims[0] if len(t.dims) > 0 else -1 for t in terms], dtype=np.int64)
        second = np.asarray([t.dims[1] if len(t.dims) > 1 else -1 for t in terms], dtype=np.int64)
        return values, first, second

    def _evaluate(self, parts, kept: np.ndarray) -> float:
        values, first, second = parts
        ratio = np.append((self.matrix @ np.asarray(kept, dtype=np.float64) + self.const) /
                          np.maximum(self.size0, 1e-12), 1.0)   # index -1 -> 1.0
        return float(np.sum(values * ratio[first] * ratio[second]))

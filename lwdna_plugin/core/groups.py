"""Groups of coupled channels, built on torch-pruning's DependencyGraph.

torch-pruning tells which channel *slots* (one output or input channel of one layer or op)
must be removed together. We union those slots into **units** (the smallest removable
piece: one channel, one conv group of a group conv, or the r² channels that a PixelShuffle
folds into one), and units into **groups** (one latent vector each). On top of the library
we add what it gets wrong: whole-group coupling of group convs, PixelShuffle index mapping,
and an allow-list of channel-preserving ops so that anything else fails closed.

This module traces the model and runs the grouping; the pieces live where they belong:
:mod:`.channel_graph` (what a grouping finds), :mod:`.layer_types` (layer types and the channel
gate registry), :mod:`.op_rules` (the op allow-list and its errors), :mod:`.coupling` (slots →
units → groups), :mod:`.index_maps` (exact index maps through concat / split), :mod:`.shuffle`
(channel shuffles) and :mod:`.split_attention` (radix branches).
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch_pruning as tp

from .channel_graph import ChannelGraph, ChannelGroup, ChannelSplit, Dim, Segment, dim_layout, share_latents, within
from .coupling import ChannelGraphBuilder
from .errors import UnsupportedModelError
from .kept_whole import Kept, heads_kept, keep_around
from .index_maps import (TracedDependencyGraph, fix_concat_split_maps, set_attention_maps, set_merge_maps,
                         set_shuffle_maps, set_split_attention_maps)
from .layer_types import (CHANNEL_GATES, CHANNEL_NORM_TYPES, CONV_TYPES, RESIZABLE_TYPES,
                          SEPARABLE_GATES, channel_axis, norm_channels, register_channel_gate)
from .tracing import ForwardFn, default_forward, parameters_traced, record_ops

__all__ = ['build_channel_graph', 'ChannelGraph', 'ChannelGroup', 'ChannelSplit', 'Dim', 'Segment', 'dim_layout',
           'share_latents', 'within', 'register_channel_gate', 'CHANNEL_GATES', 'SEPARABLE_GATES',
           'CHANNEL_NORM_TYPES', 'CONV_TYPES', 'RESIZABLE_TYPES', 'channel_axis', 'norm_channels']


def build_channel_graph(model: nn.Module, example_inputs: Any, forward_fn: Optional[ForwardFn] = None,
                        ignored_layers: Sequence[str] = (), timeout_s: float = 120.0,
                        keep_unmodelled: bool = True, kept_whole: Optional[Dict[str, str]] = None) -> ChannelGraph:
    """Trace ``model`` once and return its channel groups.

    Raises :class:`UnsupportedModelError` naming the module for ops that move channels in
    a way we do not model (channel padding, shuffle, permute/transpose, slicing, unknown
    custom ops) and when grouping exceeds ``timeout_s`` — unless ``keep_unmodelled`` and the op
    runs inside a block kept whole instead (:mod:`.kept_whole`). ``kept_whole``: the blocks an earlier
    grouping of this model (or of a resized copy) kept whole, by name -> why (its
    :attr:`ChannelGraph.kept_whole`), kept from the start. The model's train/eval state is kept.
    """
    forward_fn = forward_fn or default_forward
    was_training = {m: m.training for m in model.modules()}
    kept = {**heads_kept(model), **(kept_whole or {})}
    try:
        with _time_limit(timeout_s, model):
            while True:   # each refusal inside a block keeps that block whole (kept_whole.py), once
                try:
                    dg, trace, outputs = _build_dependency_graph(model, example_inputs, forward_fn, kept)
                    graph = ChannelGraphBuilder(model, dg, trace, outputs, ignored_layers, kept).build()
                    break
                except UnsupportedModelError as error:
                    if not keep_unmodelled:
                        raise
                    kept = keep_around(error, model, example_inputs, forward_fn, kept)
    finally:
        for m, mode in was_training.items():
            m.training = mode
    return graph


def _build_dependency_graph(model, example_inputs, forward_fn, kept: Kept):
    outputs: List[torch.Tensor] = []
    # torch-pruning calls ``eval()`` (PoolFormer refreezes its stem, mmpretrain's attentions compute
    # their bias tensors): the parameters are made traceable again right before the forward pass
    with record_ops(model) as trace, parameters_traced(model) as prepare:
        def traced_forward(m, x):
            prepare()
            out = forward_fn(m, x)
            outputs.extend(t for t in tp.utils.flatten_as_list(out) if isinstance(t, torch.Tensor))
            return out
        try:
            with torch.enable_grad():
                dg = TracedDependencyGraph(lambda axes: _concat_sizes(trace, axes),
                                           lambda: trace.records, lambda: trace.owners).build_dependency(
                    model, example_inputs, forward_fn=traced_forward, verbose=False,
                    gates=tuple(CHANNEL_GATES), kept=list(kept))
        except UnsupportedModelError:
            raise
        except Exception as e:
            if not outputs:   # the forward pass itself failed: the caller's error, as it is
                raise
            where, owner = _where(e, trace)
            raise UnsupportedModelError(
                f'torch-pruning cannot follow the channels{where} ({type(e).__name__}: {e}); '
                'reshapes across channels (a channel shuffle) and channel slices are not supported', owner) from e
    fix_concat_split_maps(dg)
    set_shuffle_maps(dg)
    set_split_attention_maps(dg)
    set_attention_maps(dg)
    set_merge_maps(dg)
    if not outputs or all(o.grad_fn is None for o in outputs):
        raise UnsupportedModelError('the model output does not depend on any parameter; '
                                    'nothing to shrink')
    return dg, trace, outputs


def _concat_sizes(trace, axes: Dict[Any, Optional[int]]) -> Dict[Any, List[int]]:
    """Channel count of every tensor concatenated along the channel axis (dim 1 where the trace
    does not tell), per CatBackward0 node."""
    sizes = {}
    for fn, rec in trace.records.items():
        if type(fn).__name__ == 'CatBackward0' and rec.in_shapes:
            ndim = len(rec.out_shape)
            dim = getattr(fn, '_saved_dim', None)
            channels = axes.get(fn) if axes.get(fn) is not None else 1
            if ndim > 1 and dim is not None and dim % ndim == channels:
                sizes[fn] = [shape[channels] if len(shape) == ndim else 0 for shape in rec.in_shapes]
    return sizes


def _where(error: BaseException, trace) -> Tuple[str, Optional[str]]:
    """(' at <op> in <module>', the module's name) for the graph node torch-pruning was mapping
    when it failed."""
    tb, node = error.__traceback__, None
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get('node')
        node = candidate if hasattr(candidate, 'grad_fn') else node
        tb = tb.tb_next
    if node is None:
        return '', None
    record = trace.records.get(node.grad_fn)
    owner = trace.owners.get(node.grad_fn, (record.module if record else '', None))[0]
    op = record.func if record else type(node.grad_fn).__name__.removesuffix('Backward0')
    return f' at {op!r} in {owner or "the top-level forward"!r}', owner or None


@contextmanager
def _time_limit(seconds: float, model: nn.Module) -> Iterator[None]:
    """Abort grouping after ``seconds`` (SIGALRM; only enforceable in the main thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, 'SIGALRM'):
        yield
        return

    def on_alarm(signum, frame):
        raise UnsupportedModelError(
            f'grouping the channels of {type(model).__name__} did not finish within {seconds:.0f} s; '
            'torch-pruning does not terminate on some channel-shuffling models (e.g. ShuffleNetV2)')
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

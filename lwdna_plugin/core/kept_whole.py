"""Modules kept whole: traced as one channel-preserving node each and left at their width, together
with the stream they read and write, while the rest of the model is widened and pruned.

Two kinds: attentions whose channels per head follow their input width
(:func:`.attributes.heads_from_stream_width`), and blocks whose forward runs an op the grouping
cannot follow (RepMLP's partition perceptron folds the channels into the batch; rotary position
embeddings): the innermost module around the op that maps one tensor to one of the same shape.
Nothing inside such a module changes, so the pruned network stays exact; the groups it touches
are fixed and their ``fixed_reason`` names it.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Set, Tuple

import torch
import torch.nn as nn
from torch.utils._pytree import tree_flatten

from .attributes import heads_from_stream_width
from .errors import UnsupportedModelError
from .layer_types import CHANNEL_GATES, RESIZABLE_TYPES
from .tracing import ForwardFn

Kept = Dict[type, str]   # class kept whole -> why


def heads_kept(model: nn.Module) -> Kept:
    """The attention classes of ``model`` that size their heads by their input width."""
    modules = dict(model.named_modules())
    return {type(modules[name]): 'computes its channels per head from its input width (C // num_heads): '
            'heads and input width kept' for name in heads_from_stream_width(model)}


def keep_around(error: UnsupportedModelError, model: nn.Module, example_inputs: Any, forward_fn: ForwardFn,
                kept: Kept) -> Kept:
    """``kept`` plus the class of the innermost block around the op ``error`` refuses; re-raises
    ``error`` where there is none: the op is in the model's own forward or in no module that maps
    one tensor to one of the same shape, or that block is kept already."""
    block = _enclosing_block(model, error.module, example_inputs, forward_fn) if error.module else None
    if block is None or type(block) in kept:
        raise error
    message = str(error)
    hint = re.search(r'`import lwdna_plugin\.\w+` registers [^;]*', message)   # a zoo's gate, adapter not imported
    first = message.split(': LW-DNA')[0].split('; ')[0] + (f'; {hint.group(0)}' if hint else '')
    return {**kept, type(block): f'runs an op the grouping cannot follow ({first}): kept whole'}


def _enclosing_block(model: nn.Module, name: str, example_inputs: Any,
                     forward_fn: ForwardFn) -> Optional[nn.Module]:
    """The innermost of module ``name`` and its ancestors (not the model) that every call maps
    one tensor to a tensor of the same shape, and that is neither a layer nor a channel gate."""
    modules = dict(model.named_modules())
    parts = name.split('.')
    chain = [modules[p] for p in ('.'.join(parts[:k]) for k in range(len(parts), 0, -1)) if p in modules]
    candidates = [m for m in chain if not isinstance(m, RESIZABLE_TYPES + tuple(CHANNEL_GATES))]
    calls: Dict[nn.Module, List[bool]] = {m: [] for m in candidates}

    def record(module, args, kwargs, output) -> None:
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        calls[module].append(isinstance(output, torch.Tensor) and len(tensors) == 1 and
                             tensors[0].shape == output.shape)
    handles = [m.register_forward_hook(record, with_kwargs=True) for m in candidates]
    try:
        with torch.no_grad():
            forward_fn(model, example_inputs)
    finally:
        for h in handles:
            h.remove()
    return next((m for m in candidates if calls[m] and all(calls[m])), None)


def cut_insides(module2node: Dict[Any, Any], kept_types: Set[type], owners: Dict[Any, Tuple[str, Any]],
                model: nn.Module) -> None:
    """Make every module of ``kept_types`` one node of torch-pruning's graph (``module2node``, in
    place): the ops and layers its forward runs are dropped and its node reads the tensors the
    module got. torch-pruning follows the autograd graph into a customized layer otherwise, and its
    group closure need not terminate on what it finds there (timm's split attention)."""
    names = {m: n for n, m in model.named_modules()}
    for node in [n for n in module2node.values() if type(n.module) in kept_types]:
        name = names[node.module]
        modules, params = set(node.module.modules()), set(node.module.parameters())

        def inside(other) -> bool:   # by object: a submodule shared with other modules (a rotary embedding)
            if isinstance(other.module, nn.Parameter):
                return other.module in params
            if isinstance(other.module, nn.Module) and other.module in names:
                return other.module in modules
            return owners.get(other.grad_fn, ('', None))[1] in modules
        internal, external, todo = set(), [], list(node.inputs)
        while todo:
            other = todo.pop()
            if other in internal or other in external or other is node:
                continue
            if inside(other):
                internal.add(other)
                todo.extend(other.inputs)
            else:
                external.append(other)
        leaks = [o for i in internal for o in i.outputs if o not in internal and o is not node]
        if leaks:
            raise UnsupportedModelError(f"'{name}' ({type(node.module).__name__}) cannot be kept whole: a tensor "
                                        'its forward computes is used outside it', name)
        node.inputs = external
        for other in external:
            other.outputs = [o for o in other.outputs if o not in internal and o is not node] + [node]
        for key in [k for k, n in module2node.items() if n in internal]:
            del module2node[key]

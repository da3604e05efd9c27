"""Modules kept whole: traced as one node each and left at their width, together with the
channels they read and write, while the rest of the model is widened and pruned.

Two kinds: attentions whose channels per head follow their input width
(:func:`.attributes.heads_from_stream_width`), and blocks whose forward runs an op the grouping
cannot follow (RepMLP's partition perceptron folds the channels into the batch; rotary position
embeddings; T2T-ViT's single-head attention adding its values to the output): the innermost module
around the op that maps one tensor to one tensor. Nothing inside such a module changes, so the
pruned network stays exact; the groups it touches are fixed and their ``fixed_reason`` names it.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch_pruning as tp
from torch.utils._pytree import tree_flatten

from .attributes import heads_from_stream_width
from .channel_graph import within
from .errors import UnsupportedModelError
from .layer_types import CHANNEL_GATES, RESIZABLE_TYPES
from .tracing import ForwardFn

Kept = Dict[str, str]   # name of a module kept whole -> why


def heads_kept(model: nn.Module) -> Kept:
    """The attentions of ``model`` that size their heads by their input width."""
    return {name: 'computes its channels per head from its input width (C // num_heads): heads and input '
            'width kept' for name in heads_from_stream_width(model)}


def keep_around(error: UnsupportedModelError, model: nn.Module, example_inputs: Any, forward_fn: ForwardFn,
                kept: Kept) -> Kept:
    """``kept`` plus the innermost block around the op ``error`` refuses (and around those of
    ``error.also``, where there is one); re-raises ``error`` where there is none for it: the op is
    in the model's own forward or in no module that maps one tensor to one tensor, or that block
    is kept already."""
    errors = [e for e in [error] + error.also if e.module]
    if not errors or errors[0] is not error:
        raise error
    blocks = _enclosing_blocks(model, [e.module for e in errors], example_inputs, forward_fn)
    if blocks[0] is None or blocks[0] in kept:
        raise error
    found = dict(kept)
    for e, block in zip(errors, blocks):
        if block is not None and block not in found:
            message = str(e)
            hint = re.search(r'`import lwdna_plugin\.\w+` registers [^;]*', message)   # a zoo's gate, adapter not imported
            first = message.split(': LW-DNA')[0].split('; ')[0] + (f'; {hint.group(0)}' if hint else '')
            found[block] = f'runs an op the grouping cannot follow ({first}): kept whole'
    return found


def _enclosing_blocks(model: nn.Module, names: List[str], example_inputs: Any,
                      forward_fn: ForwardFn) -> List[Optional[str]]:
    """For each module name, the innermost of that module and its ancestors (not the model) that
    every call maps one tensor to one tensor (other arguments and results: no tensor, such as
    MViT's token grid shape), and that is neither a layer nor a channel gate; one forward pass."""
    modules = dict(model.named_modules())
    chains = []
    for name in names:
        parts = name.split('.')
        chain = [p for p in ('.'.join(parts[:k]) for k in range(len(parts), 0, -1)) if p in modules]
        chains.append([p for p in chain if not isinstance(modules[p], RESIZABLE_TYPES + tuple(CHANNEL_GATES))])
    calls: Dict[str, List[bool]] = {p: [] for chain in chains for p in chain}

    def count(tree) -> int:
        return sum(isinstance(t, torch.Tensor) for t in tree_flatten(tree)[0])

    def recorder(p: str):
        return lambda module, args, kwargs, output: calls[p].append(count((args, kwargs)) == 1 and count(output) == 1)
    handles = [modules[p].register_forward_hook(recorder(p), with_kwargs=True) for p in calls]
    try:
        with torch.no_grad():
            forward_fn(model, example_inputs)
    finally:
        for h in handles:
            h.remove()
    return [next((p for p in chain if calls[p] and all(calls[p])), None) for chain in chains]


class KeptOutputs:
    """Forward hooks that note the autograd node of every output of the modules kept whole."""

    def __init__(self, modules: Sequence[nn.Module]):
        self.fns: Dict[nn.Module, List[Any]] = {m: [] for m in modules}
        self.handles: List[Any] = []

    def __enter__(self) -> 'KeptOutputs':
        def note(module, args, output) -> None:
            tensor = next(t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor))
            self.fns[module].append(tensor.grad_fn)
        self.handles = [m.register_forward_hook(note) for m in self.fns]
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()


def make_kept_nodes(module2node: Dict[Any, Any], outputs: Dict[nn.Module, List[Any]],
                    owners: Dict[Any, Tuple[str, Any]], model: nn.Module) -> None:
    """Make every call of a module kept whole one node of torch-pruning's graph (``module2node``, in
    place), marked customized: the ops and layers its forward runs are dropped and the node reads
    the tensors the module got. ``outputs``: the autograd node of each call's output, by module.
    A kept module inside another one (EVA-02's rotary embedding in its attention) is part of the
    outer module's node."""
    names = {m: n for n, m in model.named_modules()}
    kept = [names[m] for m in outputs]
    by_fn = {node.grad_fn: node for node in module2node.values() if node.grad_fn is not None}
    for module, fns in outputs.items():
        name = names[module]
        if any(within(name, other) and other != name for other in kept):
            continue
        modules, params = set(module.modules()), set(module.parameters())

        def inside(other) -> bool:   # by object: a submodule shared with other modules (a rotary embedding)
            if isinstance(other.module, nn.Parameter):
                return other.module in params
            if isinstance(other.module, nn.Module) and other.module in names:
                return other.module in modules
            return owners.get(other.grad_fn, ('', None))[1] in modules
        for call, fn in enumerate(fns):
            last = by_fn.get(fn)
            if last is None or not inside(last):
                raise UnsupportedModelError(f"'{name}' ({type(module).__name__}) cannot be kept whole: its output "
                                            'is not computed inside it', name)
            internal, external, todo = set(), [], [last]
            while todo:
                other = todo.pop()
                if other in internal or other in external:
                    continue
                if inside(other):
                    internal.add(other)
                    todo.extend(other.inputs)
                else:
                    external.append(other)
            if [o for i in internal - {last} for o in i.outputs if o not in internal]:
                raise UnsupportedModelError(f"'{name}' ({type(module).__name__}) cannot be kept whole: a tensor "
                                            'its forward computes is used outside it', name)
            node = tp.Node(module=module, grad_fn=fn, name=name)
            node.type = tp.ops.OPTYPE.CUSTOMIZED
            node.inputs, node.outputs = external, list(last.outputs)
            for other in external:
                other.outputs = [o for o in other.outputs if o not in internal] + [node]
            for other in last.outputs:
                other.inputs = [node if i is last else i for i in other.inputs]
            for key in [k for k, n in module2node.items() if n in internal]:
                del module2node[key]
            module2node[module if call == 0 else (module, call)] = node

"""One instrumented forward pass: which torch function made each tensor, in which module.

The records are keyed by the output tensor's ``grad_fn``, the same objects torch-pruning's
dependency graph is built from, so every graph node can be given a module name (for error
messages), an op name and shapes (for FLOPs counting).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten


@dataclass
class OpRecord:
    """What produced one tensor of the traced forward pass."""

    func: str                      # e.g. 'conv2d', 'add_', 'max_pool2d'
    module: str                    # dotted name of the innermost module running it
    module_obj: Optional[nn.Module]
    in_shapes: Tuple[Tuple[int, ...], ...]
    out_shape: Tuple[int, ...]
    in_edges: Tuple[Tuple[Any, int], ...] = ()   # (grad_fn, output_nr) of each tensor argument, in order
    constants: Tuple[int, ...] = ()   # which tensor arguments are a buffer of the model (or a view of one)


class _Recorder(TorchFunctionMode):
    def __init__(self, stack: List[Tuple[str, nn.Module]], buffers: Set[int]):
        super().__init__()
        self.stack = stack
        self.buffers = buffers   # storage addresses of the model's buffers
        self.records: Dict[Any, OpRecord] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, '__name__', str(func))
        if name in ('__get__', 'size', 'dim', 'numel', '__len__'):
            return out
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        if outs:
            tensors = [a for a in tree_flatten((args, kwargs or {}))[0] if isinstance(a, torch.Tensor)]
            shapes = tuple(tuple(t.shape) for t in tensors)
            edges = tuple((t.grad_fn, t.output_nr) for t in tensors)
            constants = tuple(k for k, t in enumerate(tensors) if t.grad_fn is None and not t.requires_grad and
                              _storage(t) in self.buffers)
            mod_name, mod = self.stack[-1] if self.stack else ('', None)
            for t in outs:
                if t.grad_fn not in self.records:
                    self.records[t.grad_fn] = OpRecord(name.strip('_') if name.startswith('__') else name,
                                                       mod_name, mod, shapes, tuple(t.shape), edges, constants)
        return out


def _storage(t: torch.Tensor) -> int:
    """The address of a tensor's storage (shared by its views), 0 for one without."""
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return 0


@dataclass
class Trace:
    """``records``: ops seen at the torch-function level; ``owners``: every autograd node of
    the pass -> (module name, module) whose forward created it (custom autograd Functions too)."""

    records: Dict[Any, OpRecord]
    owners: Dict[Any, Tuple[str, nn.Module]]


@contextmanager
def record_ops(model: nn.Module) -> Iterator[Trace]:
    """Context manager: records every op of forward passes run inside it."""
    stack: List[Tuple[str, nn.Module]] = []
    owners: Dict[Any, Tuple[str, nn.Module]] = {}
    handles = []

    def claim(name, module, inputs, output):
        """Give the autograd nodes between ``inputs`` and ``output`` to the innermost module."""
        stack.pop()
        stop = {t.grad_fn for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)}
        todo = [t.grad_fn for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        seen = set()
        while todo:
            fn = todo.pop()
            if fn in seen or fn in stop or fn is None or not hasattr(fn, 'next_functions'):
                continue
            seen.add(fn)
            owners.setdefault(fn, (name, module))
            todo.extend(f for f, _ in fn.next_functions)

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(
            lambda m, i, _n=name: stack.append((_n, m))))
        handles.append(module.register_forward_hook(
            lambda m, i, o, _n=name: claim(_n, m, i, o)))
    recorder = _Recorder(stack, {_storage(b) for b in model.buffers()} - {0})   # 0: no storage
    drop_tensor_caches(model)
    try:
        with recorder:
            yield Trace(recorder.records, owners)
    finally:
        for h in handles:
            h.remove()
        drop_tensor_caches(model)


def drop_tensor_caches(model: nn.Module) -> None:
    """Empty every dict of tensors a module holds outside its parameters and buffers: a cache of
    values its forward computed from parameters (timm's LeViT / EfficientFormer attention biases per
    device). A traced forward neither reads one (it would hide the parameter behind it) nor leaves
    one behind (its tensors belong to the traced graph: the model could not be copied, and a resized
    copy would keep the old shapes); the module computes it again when it needs it."""
    for module in model.modules():
        for attr, value in list(vars(module).items()):
            if isinstance(value, dict) and value and not attr.startswith('_') and \
                    all(isinstance(v, torch.Tensor) for v in value.values()):
                setattr(module, attr, {})


def modules_holding_tensors(model: nn.Module) -> List[nn.Module]:
    """Modules holding a tensor outside their parameters and buffers: a value computed from their
    parameters, which mmpretrain's LeViT / EfficientFormer / TinyViT attentions compute in ``train(False)``
    (``self.ab``) and read instead of the parameter in eval mode."""
    return [m for m in model.modules()
            if any(isinstance(v, torch.Tensor) for k, v in vars(m).items() if not k.startswith('_'))]


def recompute_held_tensors(model: nn.Module) -> None:
    """Let each module of :func:`modules_holding_tensors` compute its held tensor again from its
    (resized or sliced) parameters, by calling its own ``train()`` in its current mode."""
    for module in modules_holding_tensors(model):
        module.train(module.training)


def default_forward(model: nn.Module, inputs: Any) -> Any:
    """Call the model on ``inputs`` (a tensor, a tuple of positional args or a dict of kwargs)."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


ForwardFn = Callable[[nn.Module, Any], Any]


@contextmanager
def parameters_traced(model: nn.Module) -> Iterator[Callable[[], None]]:
    """Every parameter the forward uses made a node of the autograd graph the trace reads, and the
    model as it was again on exit: frozen parameters (``requires_grad=False``; mmpretrain's PoolFormer
    freezes its stem) made trainable, and the modules of :func:`modules_holding_tensors` run with
    ``training`` set (the flag only), so they read the parameter, not the tensor computed from it.
    Yields ``prepare()`` to call again right before the forward pass, after the model's own
    ``train()`` / ``eval()`` (torch-pruning calls ``eval()``; PoolFormer refreezes in it, the
    attentions compute their tensor in it)."""
    frozen = [p for p in model.parameters() if not p.requires_grad]
    flipped: List[nn.Module] = []

    def prepare() -> None:
        for p in frozen:
            p.requires_grad_(True)
        for module in modules_holding_tensors(model):
            if not module.training:
                module.training = True
                flipped.append(module)
    try:
        prepare()
        yield prepare
    finally:
        for p in frozen:
            p.requires_grad_(False)
        for module in flipped:
            module.training = False

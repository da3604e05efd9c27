"""Checks on the scoring batches and the loss: bad data gets one :class:`ConfigError` naming
the batch and what is wrong, before it can reach torch as a traceback or a wrong score."""
from __future__ import annotations

from typing import Any, List, Optional

import torch
import torch.nn as nn
from torch.utils._pytree import tree_flatten

from .errors import ConfigError
from .tracing import ForwardFn, default_forward

IGNORE_INDEX = -100   # torch's cross-entropy default: a label that takes no part in the loss
CALL_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)   # what a forward / loss raises on bad data


def tensors(x: Any) -> List[torch.Tensor]:
    return [t for t in tree_flatten(x)[0] if torch.is_tensor(t)]


def describe(x: Any) -> str:
    """'[8, 3, 32, 32] float32' for each tensor of ``x``."""
    parts = [f'{list(t.shape)} {str(t.dtype).replace("torch.", "")}' for t in tensors(x)]
    return ', '.join(parts) or type(x).__name__


def check_inputs(inputs: Any, model: nn.Module, index: int, first: Optional[Any] = None) -> None:
    """Batch ``index`` (1-based) of inputs: floating tensors in the model's dtype, at least 2
    samples where BatchNorm trains, and the same rank and channels as the first batch."""
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    found = tensors(inputs)
    for t in found:
        if t.is_floating_point() and param is not None and t.dtype != param.dtype:
            raise ConfigError(f'batch {index}: inputs are {describe(t)} but the model\'s parameters are '
                              f'{str(param.dtype).replace("torch.", "")}; convert the batch (e.g. x.to({param.dtype}))')
    if found and found[0].dim() > 0 and found[0].shape[0] < 2 and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ConfigError(f'batch {index} holds {found[0].shape[0]} sample(s) ({describe(inputs)}): BatchNorm layers '
                          'in training mode need at least 2 per batch; raise the batch size (or batch_fraction)')
    if first is not None:
        for t, ref in zip(found, tensors(first)):
            if t.dim() != ref.dim() or (t.dim() > 1 and t.shape[1] != ref.shape[1]):
                raise ConfigError(f'batch {index}: inputs {describe(t)} do not fit the first batch\'s '
                                  f'{describe(ref)} (rank and channels must be the same)')


def check_targets(output: Any, targets: Any, index: int) -> None:
    """Class-index targets against a (batch, classes) output: as many as the samples, each a
    class of the output (or the ignore index)."""
    if not (torch.is_tensor(output) and torch.is_tensor(targets) and output.dim() == 2):
        return
    if targets.dim() >= 1 and targets.shape[0] != output.shape[0]:
        raise ConfigError(f'batch {index}: {targets.shape[0]} targets for {output.shape[0]} samples')
    if targets.dim() == 1 and not targets.is_floating_point() and not targets.is_complex() and targets.numel():
        classes = output.shape[1]
        labels = targets[targets != IGNORE_INDEX]
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
            raise ConfigError(f'batch {index}: labels from {int(labels.min())} to {int(labels.max())}, but the model '
                              f'outputs {classes} classes (0 to {classes - 1}); check num_classes against the data')


def check_loss(loss: Any, index: int) -> None:
    """A scalar tensor attached to the graph of the model's output."""
    if not torch.is_tensor(loss) or loss.dim() != 0:
        raise ConfigError(f'the loss must be a scalar tensor, got {loss!r:.80}')
    if not loss.requires_grad:
        raise ConfigError(f'batch {index}: the loss does not depend on the model\'s output (detached, or computed '
                          'under torch.no_grad): the channel scores are its gradient')


def check_model_runs(model: nn.Module, example: Any, forward_fn: Optional[ForwardFn] = None) -> None:
    """The unchanged model runs on one sample of the first batch (eval mode, no gradient): a
    failure there is the data's (or the forward function's), not the widening's."""
    forward_fn = forward_fn or default_forward
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            forward_fn(model, example)
    except CALL_ERRORS as e:
        raise ConfigError(f'{type(model).__name__} does not run on the first batch\'s inputs '
                          f'({describe(example)} for one sample): {_first_line(e)}') from e
    finally:
        for m, mode in modes.items():
            m.training = mode


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


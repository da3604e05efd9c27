"""Reading exported backbone weights and loading state dicts with clear mismatch errors."""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Union

import torch
import torch.nn as nn

from ..core.errors import ChannelConfigMismatchError, ConfigError


def read_state_dict(path: Union[str, os.PathLike]) -> Dict[str, torch.Tensor]:
    """A plain state dict from ``*.safetensors`` or a ``torch.save``-d ``*.pth`` (read with
    ``weights_only=True``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f'weights file {path!r} does not exist')
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            state_dict = load_file(path)
        else:
            state_dict = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # corrupt / truncated / not a weights file
        raise ConfigError(f'cannot read weights {path!r}: {type(e).__name__}: {e}') from None
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ConfigError(f'{path!r} is not a plain state dict (name -> tensor); export backbones with '
                          'tools/export_dimp_backbone.py')
    return dict(state_dict)


def state_dict_problems(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> List[str]:
    """Every missing key, unexpected key and shape difference between ``model`` and ``state_dict``."""
    own = model.state_dict()
    problems = [f'{k} is missing from the weights' for k in own if k not in state_dict]
    problems += [f'{k} is in the weights but not in the model' for k in state_dict if k not in own]
    problems += [f'{k} has shape {tuple(state_dict[k].shape)} in the weights but {tuple(v.shape)} in the model'
                 for k, v in own.items() if k in state_dict and state_dict[k].shape != v.shape]
    return problems


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """``load_state_dict(strict=True)``, raising :class:`ChannelConfigMismatchError` that names
    the first differences (``what`` says which weights and which model)."""
    problems = state_dict_problems(model, state_dict)
    if problems:
        more = f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''
        raise ChannelConfigMismatchError(f'{what}: {"; ".join(problems[:3])}{more}')
    model.load_state_dict(state_dict, strict=True)

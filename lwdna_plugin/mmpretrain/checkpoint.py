"""Reading mmengine checkpoints safely (torch >= 2.6 loads with ``weights_only=True``)."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..core.errors import ChannelConfigMismatchError

META_KEY = 'lwdna_channel_config'


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list exactly the globals an mmengine checkpoint's message hub needs, so that
    ``resume=True`` and test-time loading work under torch's ``weights_only=True``: the
    HistoryBuffer, numpy arrays and scalars, numpy dtypes and dtype classes (numpy 2 pickles
    those through ``getattr``; the weights-only unpickler still calls nothing that is not
    allow-listed). ``weights_only`` itself stays on: a checkpoint cannot run arbitrary code."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from numpy._core import multiarray

    dtype_classes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    torch.serialization.add_safe_globals(
        [HistoryBuffer, multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, getattr, *dtype_classes])


def channel_config_from_checkpoint(path: str) -> Optional[Dict[str, Any]]:
    """The LW-DNA channel config stored in a checkpoint's meta (None if it has none)."""
    if not os.path.isfile(path):
        raise ChannelConfigMismatchError(f'checkpoint {path!r} does not exist')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # corrupt / truncated / not a checkpoint
        raise ChannelConfigMismatchError(f'cannot read checkpoint {path!r}: {type(e).__name__}: {e}') from None
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return (meta or {}).get(META_KEY)

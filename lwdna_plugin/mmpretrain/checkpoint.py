"""Reading mmengine checkpoints safely (torch >= 2.6 loads with ``weights_only=True``)."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..core.errors import ChannelConfigMismatchError

META_KEY = 'lwdna_channel_config'


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list exactly the types an mmengine checkpoint's message hub holds, so that
    ``resume=True`` works under ``weights_only=True`` (never turn ``weights_only`` off: that
    would let a checkpoint run arbitrary code)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    dtype_classes = [type(np.dtype(t)) for t in (np.float64, np.float32, np.float16, np.int64, np.int32,
                                                 np.int16, np.int8, np.uint8, np.bool_)]
    torch.serialization.add_safe_globals(
        [HistoryBuffer, np.core.multiarray._reconstruct, np.ndarray, np.dtype, *dtype_classes])


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

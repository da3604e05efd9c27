"""Reading mmengine checkpoints under torch's ``weights_only=True`` without widening what any
other ``torch.load`` in the process accepts.

An mmengine checkpoint's message hub holds ``HistoryBuffer`` objects (numpy arrays, numpy
scalars, numpy dtypes) and each buffer's statistics methods, which pickle (protocol 2) as
``getattr(HistoryBuffer, 'min')``; unpickling a dtype builds an instance of its class
(``numpy.dtypes.Float64DType``, ...). Measured on numpy 1.26.4 and 2.4.6 checkpoints: those
are all the non-default globals they need. ``builtins.getattr`` itself is never allowed
(with it, torch's own ``_rebuild_from_type_v2`` reaches ``eval``); in its place the name
resolves to :func:`history_buffer_statistic`, which looks up nothing but those four methods.
"""
from __future__ import annotations

import contextlib
import os
import pickle
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch

from ..core.errors import ChannelConfigMismatchError, CheckpointError
from ..core.safe_load import scoped_safe_globals

META_KEY = 'lwdna_channel_config'
STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(owner: Any, name: str) -> Any:
    """Unpickling stand-in for ``getattr``: only ``HistoryBuffer.<min|max|current|mean>``."""
    from mmengine.logging.history_buffer import HistoryBuffer

    if owner is not HistoryBuffer or name not in STATISTICS:
        raise pickle.UnpicklingError(
            f'refused getattr({owner!r:.60}, {name!r:.60}) in a checkpoint: only HistoryBuffer statistics '
            'methods may be looked up')
    return getattr(HistoryBuffer, name)


def mmengine_checkpoint_globals() -> List[Any]:
    """What an mmengine checkpoint needs beyond torch's defaults, under the names numpy 1.x
    (``numpy.core``) and 2.x (``numpy._core``) write."""
    from mmengine.logging.history_buffer import HistoryBuffer

    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]   # numpy's multiarray._reconstruct
    scalar = np.float64(0).__reduce__()[0]                # numpy's multiarray.scalar
    dtype_classes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    entries: List[Any] = [HistoryBuffer, np.ndarray, np.dtype, *dtype_classes,   # types to rebuild
                          (history_buffer_statistic, 'builtins.getattr')]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(reconstruct, f'{module}._reconstruct'), (scalar, f'{module}.scalar')]
    return entries


@contextlib.contextmanager
def mmengine_checkpoint_loading(path: Any = None) -> Iterator[None]:
    """Inside the block, ``torch.load(..., weights_only=True)`` reads mmengine checkpoints;
    outside it torch's safe globals are exactly what they were. A refused global becomes a
    :class:`CheckpointError` naming ``path`` and the reason."""
    with scoped_safe_globals(mmengine_checkpoint_globals()):
        try:
            yield
        except pickle.UnpicklingError as e:
            raise CheckpointError(f'refused to load checkpoint {str(path)!r}: {unpickling_reason(e)}') from None


def unpickling_reason(error: Exception) -> str:
    """The line of torch's weights-only error message that says what was refused."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for before, line in zip(lines, lines[1:]):
        if before.endswith('WeightsUnpickler error:'):
            return line
    return lines[0] if lines else type(error).__name__


def load_mmengine_checkpoint(path: str, map_location: Any = 'cpu') -> Any:
    """``torch.load`` of an mmengine checkpoint with ``weights_only=True``."""
    with mmengine_checkpoint_loading(path):
        return torch.load(path, map_location=map_location, weights_only=True)


def channel_config_from_checkpoint(path: str) -> Optional[Dict[str, Any]]:
    """The LW-DNA channel config stored in a checkpoint's meta (None if it has none)."""
    if not os.path.isfile(path):
        raise ChannelConfigMismatchError(f'checkpoint {path!r} does not exist')
    try:
        checkpoint = load_mmengine_checkpoint(path)
    except Exception as e:  # corrupt / truncated / not a checkpoint / a refused global
        raise ChannelConfigMismatchError(f'cannot read checkpoint {path!r}: {type(e).__name__}: {e}') from None
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return (meta or {}).get(META_KEY)

"""Shape predicates for reshapes of a feature tensor (N, C, ...): which keep every channel where
it is, and which flatten the channels into a Linear layer's features."""
from __future__ import annotations

import math
from typing import Sequence

# autograd nodes of ``view`` / ``reshape`` (``reshape`` of a non-contiguous tensor adds a clone before)
VIEW_NODES = ('ViewBackward0', 'UnsafeViewBackward0', 'ReshapeAliasBackward0')


def flattens_channels(before: Sequence[int], after: Sequence[int]) -> bool:
    """True if a reshape flattens the channel dim and everything after it into one dim, channel major."""
    b = [int(s) for s in before]
    a = [int(s) for s in after]
    return len(b) >= 3 and len(a) == 2 and a[0] == b[0] and a[1] == math.prod(b[1:])


def keeps_channels(before: Sequence[int], after: Sequence[int]) -> bool:
    """True if a reshape keeps the batch and channel dims and only regroups the dims after them."""
    b = [int(s) for s in before]
    a = [int(s) for s in after]
    if len(b) < 2 or len(a) < 2 or b[0] != a[0] or b[1] != a[1]:
        return False
    return math.prod(b[2:]) == math.prod(a[2:])


def drops_unit_dims(before: Sequence[int], after: Sequence[int]) -> bool:
    """True if a reshape only removes size-1 dims and the channel dim is one of those it keeps
    (``squeeze`` of (N, C, 1, 1), also at N = 1, where it leaves (C,))."""
    b = [int(s) for s in before]
    a = [int(s) for s in after]
    return len(b) >= 2 and b[1] > 1 and [n for n in b if n != 1] == [n for n in a if n != 1] and len(a) < len(b)


def keeps_last_channels(before: Sequence[int], after: Sequence[int]) -> bool:
    """True if a reshape of a channels-last tensor keeps the batch and the last (channel) dim and
    only regroups the token dims between them ((N, H·W, C) <-> (N, H, W, C)). Which dim holds
    the channels is not tracked: a reshape that this also describes on a channels-first tensor
    is caught by the exactness probe."""
    b = [int(s) for s in before]
    a = [int(s) for s in after]
    return len(b) >= 3 and len(a) >= 3 and b[0] == a[0] and b[-1] == a[-1] and b[-1] > 1 and \
        math.prod(b[1:-1]) == math.prod(a[1:-1]) and b != a

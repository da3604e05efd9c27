"""Loading files as data: checkpoints, channel configs and builder arguments never run code.

- :func:`scoped_safe_globals` allow-lists unpickling globals for ``torch.load(weights_only=True)``
  only while a load we own runs, and restores torch's list exactly afterwards (torch's own
  ``safe_globals`` context removes entries the user had added before).
- :func:`read_json_file` reads a JSON file with limits on size and nesting and without the
  non-standard ``NaN`` / ``Infinity`` constants.
- :func:`check_builder_kwargs` lets keyword arguments read from a file reach a model
  constructor only through an allow-list of architecture keys with plain values.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
from typing import Any, Callable, Dict, Iterator, Mapping, Sequence, Type

import torch

from .errors import CheckpointError, ConfigError, LWDNAError

MAX_JSON_BYTES = 64 * 2 ** 20   # a widened ResNet50's channel config is about 1 MB
MAX_JSON_DEPTH = 32             # ours nest 5 deep

Check = Callable[[Any], bool]


NAMED_SAFE_GLOBALS_TORCH = (2, 6)   # first torch whose allow-list takes (object, 'module.name') entries


def torch_version() -> tuple:
    """(major, minor) of the running torch."""
    major, minor = re.match(r'(\d+)\.(\d+)', torch.__version__).groups()
    return int(major), int(minor)


@contextlib.contextmanager
def scoped_safe_globals(entries: Sequence[Any]) -> Iterator[None]:
    """``torch.serialization`` safe globals extended by ``entries`` inside the block only;
    afterwards exactly the entries that were not there before are removed again (also any
    that torch registers meanwhile stay). Raises :class:`CheckpointError` on a torch that
    cannot take them (an allow-list arrived in 2.4, named entries in 2.6): such a file is
    never loaded with ``weights_only=False`` instead."""
    named = any(isinstance(entry, tuple) for entry in entries)
    if torch_version() < ((NAMED_SAFE_GLOBALS_TORCH) if named else (2, 4)):
        need = '.'.join(map(str, NAMED_SAFE_GLOBALS_TORCH if named else (2, 4)))
        raise CheckpointError(f'loading this checkpoint safely (weights_only=True with an allow-list) needs torch >= '
                              f'{need}; this is torch {torch.__version__}. Upgrade torch, or load a file you trust '
                              'yourself')
    before = set(torch.serialization.get_safe_globals())
    added = {entry for entry in entries if entry not in before}
    torch.serialization.add_safe_globals(list(added))
    try:
        yield
    finally:
        keep = [entry for entry in torch.serialization.get_safe_globals() if entry not in added]
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(keep)


def read_json_file(path: str | os.PathLike, what: str, error: Type[LWDNAError] = ConfigError,
                   max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse the JSON file ``path`` (a ``what``, e.g. 'channel config'); every problem is one
    ``error`` naming the file: missing, unreadable, too large, not UTF-8 JSON, too deep."""
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        if size > max_bytes:
            raise error(f'{what} {name!r} is {size} bytes; more than the {max_bytes} a {what} may have')
        with open(name, 'rb') as f:
            text = f.read().decode('utf-8')
        data = json.loads(text, parse_constant=_refuse_constant)
    except LWDNAError:   # the size check above (a ConfigError is also a ValueError)
        raise
    except FileNotFoundError:
        raise error(f'{what} {name!r} does not exist') from None
    except OSError as e:
        raise error(f'cannot read {what} {name!r}: {e.strerror or e}') from None
    except UnicodeDecodeError:
        raise error(f'{what} {name!r} is not a UTF-8 text file') from None
    except (ValueError, RecursionError) as e:   # JSONDecodeError is a ValueError
        raise error(f'{what} {name!r} is not valid JSON: {e}') from None
    depth = json_depth(data)
    if depth > max_depth:
        raise error(f'{what} {name!r} nests {depth} levels deep (at most {max_depth})')
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f'{name} is not a JSON value')


def json_depth(value: Any) -> int:
    """How many lists / dicts are nested in each other (a scalar: 0, ``[]``: 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_builder_kwargs(kwargs: Any, allowed: Mapping[str, Check], where: str) -> Dict[str, Any]:
    """``kwargs`` (read from a file) as a plain dict if every key is in ``allowed`` and its
    check accepts the value; otherwise :class:`ConfigError` naming the key. Nothing that names
    a file, fetches weights or names a callable is ever on an allow-list."""
    if not isinstance(kwargs, dict):
        raise ConfigError(f'{where}: builder arguments must be a JSON object, got {type(kwargs).__name__}')
    for key, value in kwargs.items():
        if key not in allowed:
            raise ConfigError(f'{where}: the builder argument {key!r} is not allowed (it may load a file or '
                              f'name code); allowed: {sorted(allowed)}')
        if not allowed[key](value):
            raise ConfigError(f'{where}: invalid value {value!r:.80} for the builder argument {key!r}')
    return dict(kwargs)


def is_int(low: int = 0, high: int = 2 ** 31) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def is_rate(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v < 1


def is_one_of(*choices: Any) -> Check:
    return lambda v: any(v == c and type(v) is type(c) for c in choices)


def is_plain(v: Any) -> bool:
    """A JSON scalar (no NaN / inf) or a flat list of them: what an architecture argument is."""
    if isinstance(v, list):
        return len(v) <= 64 and all(is_plain(x) and not isinstance(x, list) for x in v)
    if isinstance(v, float):
        return math.isfinite(v)
    return v is None or isinstance(v, (bool, int, str)) and len(str(v)) <= 64

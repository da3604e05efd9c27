"""Writing a run's result files into a work dir: all of them or none.

Every file is first written into a fresh staging directory inside the work dir (a name no
one else uses), then moved into place with ``os.replace`` while SIGINT / SIGTERM are held
back, so an interrupted or failing run leaves the work dir as it was, and a finished one
leaves the complete set. Files the plugin did not create are never deleted.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from typing import Callable, Dict, Iterable, Iterator, List

from .errors import OutputError

Writer = Callable[[str], None]   # writes one file at the path it is given

STAGING_PREFIX = '.lwdna-staging-'


def check_output_dir(out_dir: str | os.PathLike, names: Iterable[str], overwrite: bool = False) -> None:
    """Raise :class:`OutputError` unless ``out_dir`` can take the files ``names``: it is a
    directory (or can be created) that this process may write, and holds none of them unless
    ``overwrite``. Changes nothing on disk; run it before any long work."""
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f'work dir {out_dir!r} is a file, not a directory')
    existing = [name for name in names if os.path.lexists(os.path.join(out_dir, name))]
    if existing and not overwrite:
        raise OutputError(f'{out_dir} already holds {existing}; pass overwrite (--overwrite) or use another '
                          'work dir')
    nearest = os.path.abspath(out_dir)
    while not os.path.exists(nearest):
        nearest = os.path.dirname(nearest)
    if not os.path.isdir(nearest):
        raise OutputError(f'cannot create work dir {out_dir!r}: {nearest!r} is a file')
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise OutputError(f'work dir {out_dir!r} is not writable ({nearest!r} is read-only for this user)')


def write_outputs(out_dir: str | os.PathLike, writers: Dict[str, Writer], overwrite: bool = False) -> Dict[str, str]:
    """Write ``{file name: writer}`` into ``out_dir`` all together; returns name → path.

    Raises :class:`OutputError` (nothing written) if a file exists and not ``overwrite``, or
    the directory cannot be written. A writer's exception (or Ctrl-C while writing) removes
    the staging directory and what this call created, and propagates."""
    out_dir = os.fspath(out_dir)
    check_output_dir(out_dir, writers, overwrite)
    created = _make_dirs(out_dir)
    staging = None
    try:
        staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir)
        for name, write in writers.items():
            write(os.path.join(staging, name))
        with _signals_held():
            for name in writers:   # in the caller's order: put the file readers look for first last
                os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
            os.rmdir(staging)
            staging = None
    except OSError as e:
        _undo(staging, created)
        raise OutputError(f'cannot write into work dir {out_dir!r}: {e}') from e
    except BaseException:
        _undo(staging, created)
        raise
    return {name: os.path.join(out_dir, name) for name in writers}


def write_file_atomically(path: str | os.PathLike, write: Writer) -> None:
    """Write one file through a uniquely named temporary file beside it, then rename it."""
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f'.{base}.', suffix='.tmp', dir=directory)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _make_dirs(out_dir: str) -> List[str]:
    """Create ``out_dir`` and missing parents; returns the created ones, deepest first."""
    created = []
    path = os.path.abspath(out_dir)
    while not os.path.exists(path):
        created.append(path)
        path = os.path.dirname(path)
    try:
        for path in reversed(created):
            os.mkdir(path)
    except OSError as e:
        _undo(None, created)
        raise OutputError(f'cannot create work dir {out_dir!r}: {e}') from e
    return created


def _undo(staging: str | None, created: List[str]) -> None:
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
    for path in created:   # deepest first; only if still empty
        with contextlib.suppress(OSError):
            os.rmdir(path)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT / SIGTERM back (delivered on exit) while the files are moved into place."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, 'pthread_sigmask'):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)

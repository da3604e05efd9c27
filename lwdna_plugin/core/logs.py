"""Routing the engine's progress messages (logger ``lwdna_plugin``) into a zoo's logger."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator

ENGINE_LOGGER = 'lwdna_plugin'


class _Forward(logging.Handler):
    def __init__(self, emit: Callable[[int, str], None]):
        super().__init__()
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        self._emit(record.levelno, record.getMessage())


@contextmanager
def engine_logs_to(emit: Callable[[int, str], None]) -> Iterator[None]:
    """While the block runs, pass every INFO-or-higher engine record to ``emit(level, message)``."""
    logger = logging.getLogger(ENGINE_LOGGER)
    handler, level = _Forward(emit), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

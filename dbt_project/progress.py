"""Progress of the long stages: the lower layers report each step here (and to the `ivcrush.progress` logger);
whoever listens renders it (the CLI: a rich progress display with stage names, counts and elapsed time)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (stage, steps done or None, steps in all or None)
Listener = Callable[[str, int | None, int | None], None]

logger = logging.getLogger("ivcrush.progress")
_listeners: list[Listener] = []
_lock = threading.Lock()


def step(stage: str, done: int | None = None, total: int | None = None) -> None:
    """Report that `stage` is under way (`done` of `total` steps where counted)."""
    logger.info("%s%s", stage, f" ({done}/{total})" if total else "")
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(stage, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Within the block, `listener` sees every step reported (from any thread)."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)

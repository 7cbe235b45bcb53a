"""Progress of the long stages: the lower layers report each step here (and to the `ivcrush.progress` logger);
whoever listens renders it (the CLI: a rich progress display with stage names, counts and elapsed time)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (stage, steps done or None, steps in all or None)
Listener = Callable[[str, int | None, int | None], None]

logger = logging.getLogger("ivcrush.progress")
_listeners: list[Listener] = []
_lock = threading.Lock()
_lost_interrupt = threading.Event()


def keep_lost_interrupts() -> None:
    """Python cannot raise a Ctrl-C (KeyboardInterrupt) that arrives while a weakref callback or a destructor
    runs: it prints "Exception ignored in ..." and carries on, and the interrupt is lost. From now on such an
    interrupt is kept, quietly, and raised at the next `step` of the main thread (the CLI's process)."""
    default = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            _lost_interrupt.set()
            return
        default(unraisable)

    sys.unraisablehook = hook


def step(stage: str, done: int | None = None, total: int | None = None) -> None:
    """Report that `stage` is under way (`done` of `total` steps where counted); first raise a Ctrl-C that
    arrived where Python could not raise it (`keep_lost_interrupts`)."""
    if _lost_interrupt.is_set() and threading.current_thread() is threading.main_thread():
        _lost_interrupt.clear()
        raise KeyboardInterrupt
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

"""A Ctrl-C that Python cannot raise where it arrives (inside a weakref callback or a destructor: "Exception
ignored in ...") is kept and raised at the next progress step, never lost and never printed as a traceback."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from ivcrush import progress


class _Thing:
    pass


def _interrupt_in_a_callback() -> None:
    """A KeyboardInterrupt raised where Python can only report it as unraisable (a weakref callback)."""

    def callback(_: object) -> None:
        raise KeyboardInterrupt

    thing = _Thing()
    reference = weakref.ref(thing, callback)
    del thing
    gc.collect()
    assert reference() is None


@pytest.fixture
def restored_hook() -> Iterator[None]:
    hook = sys.unraisablehook
    try:
        yield
    finally:
        sys.unraisablehook = hook
        progress._lost_interrupt.clear()


def test_a_lost_interrupt_is_raised_at_the_next_step_without_a_traceback(
    restored_hook: None, capsys: pytest.CaptureFixture[str]
) -> None:
    progress.keep_lost_interrupts()
    _interrupt_in_a_callback()
    assert "Exception ignored" not in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        progress.step("training the models on every past event")
    progress.step("registering the models")  # raised once, then steps go on


def test_other_unraisable_errors_still_reach_pythons_hook(restored_hook: None) -> None:
    seen: list[type[BaseException] | None] = []
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_type)
    progress.keep_lost_interrupts()

    def callback(_: object) -> None:
        raise ValueError("a bug in a callback")

    thing = _Thing()
    reference = weakref.ref(thing, callback)
    del thing
    gc.collect()
    assert reference() is None and seen == [ValueError]
    progress.step("no interrupt pending: nothing raised")


def test_without_the_guard_python_loses_the_interrupt(restored_hook: None) -> None:
    """What the guard is for: Python's own hook reports the interrupt and the program carries on."""
    seen: list[type[BaseException] | None] = []
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_type)
    _interrupt_in_a_callback()
    assert seen == [KeyboardInterrupt]
    progress.step("carries on")

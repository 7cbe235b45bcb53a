"""Rendering of the lower layers' progress (`ivcrush.progress`) and of their logging: a rich display on a
terminal (each stage a line: spinner, name, count, elapsed), log lines under -v elsewhere; -q silences both."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from ivcrush.cli.options import console, errors
from ivcrush.progress import listening

LIBRARY_LOGGERS_SHOWN_AT = logging.INFO  # dbt's, Feast's, ... records pass only under -v


def log_level(verbose: int, quiet: bool) -> int:
    """-q: errors only; default: warnings; -v: info (and the tools' own output); -vv: debug."""
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


class _OursOrVerbose(logging.Filter):
    """ivcrush's records at the chosen level; the libraries' only when the level lets info through."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("ivcrush") or self.level <= LIBRARY_LOGGERS_SHOWN_AT


def configure_logging(level: int) -> None:
    """Log records go to stderr through rich, at `level` (standard logging levels)."""
    handler = RichHandler(console=errors, show_path=False, markup=False, rich_tracebacks=False)
    handler.setLevel(level)
    handler.addFilter(_OursOrVerbose(level))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, RichHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(min(level, logging.WARNING))
    logging.getLogger("ivcrush").setLevel(level)


class StageDisplay:
    """The current stage live (spinner, name, count, elapsed); a stage ends when the next begins, and is then
    printed once, with its count and elapsed time, above the live line (in the order of the output)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._stage: str | None = None
        self._task: TaskID | None = None
        self._count = ""
        self._started = 0.0

    def __call__(self, stage: str, done: int | None, total: int | None) -> None:
        if stage != self._stage:
            self.finish()
            self._stage, self._count, self._started = stage, "", time.monotonic()
            self._task = self._progress.add_task(stage, total=None, count="")
        if self._task is not None and total:
            self._count = f"{done}/{total}"
            self._progress.update(self._task, count=self._count)

    def finish(self, failed: bool = False) -> None:
        """End the stage under way: its line printed with its count and elapsed time (marked failed)."""
        if self._task is not None and self._stage is not None:
            count = f" [cyan]{self._count}[/]" if self._count else ""
            seconds = time.monotonic() - self._started
            mark = "[red]✗[/]" if failed else "[green]✓[/]"
            self._progress.console.print(
                f"{mark} {escape(self._stage)}{count} [yellow]{seconds:.1f} s[/]", highlight=False
            )
            self._progress.remove_task(self._task)
        self._task, self._stage = None, None


_shown: list[StageDisplay] = []  # the display of the command running, where one is shown


def stage_failed() -> None:
    """The command failed: end the stage under way as failed (before its error is printed)."""
    for display in _shown:
        display.finish(failed=True)


@contextmanager
def progress_shown(enabled: bool) -> Iterator[None]:
    """Within the block, the stages reported below are shown on stderr (where it is a terminal and `enabled`)."""
    if not enabled or not errors.is_terminal:
        yield
        return
    progress = Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TextColumn("[cyan]{task.fields[count]}"),
        TimeElapsedColumn(),
        console=errors,
    )
    display = StageDisplay(progress)
    console.before_output = display.finish
    _shown.append(display)
    with progress, listening(display):
        try:
            yield
        except BaseException:
            display.finish(failed=True)
            raise
        finally:
            display.finish()
            console.before_output = None
            _shown.remove(display)

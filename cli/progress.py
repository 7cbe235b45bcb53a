"""Rendering of the lower layers' progress (`ivcrush.progress`) and of their logging: a rich display on a
terminal (each stage a line: spinner, name, count, elapsed), log lines under -v elsewhere; -q silences both."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.logging import RichHandler
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from ivcrush.cli.options import errors
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
    """One line per stage: a stage ends when the next begins (its elapsed time then stops)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._stage: str | None = None
        self._task: TaskID | None = None

    def __call__(self, stage: str, done: int | None, total: int | None) -> None:
        if stage != self._stage:
            self.finish()
            self._stage = stage
            self._task = self._progress.add_task(stage, total=None, count="")
        if self._task is not None and total:
            self._progress.update(self._task, count=f"{done}/{total}")

    def finish(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, total=1, completed=1)
        self._task = None


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
    with progress, listening(display):
        try:
            yield
        finally:
            display.finish()

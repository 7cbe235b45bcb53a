"""What the commands share: the consoles, the common options, the settings a command runs with, and the
one way a command refuses a use the parser cannot see or adds context to a user-facing error."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ivcrush.constants import TIER_PRESETS
from ivcrush.errors import IvcrushError
from ivcrush.settings import Settings, load_settings
from ivcrush.workspace import prepare_workdir

# Rich wraps at 80 columns when output is not a terminal (pipes, CI logs): tables need more.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

DATE_FORMATS = ["%Y-%m-%d"]

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The 2.0 database to read (never written). Default: IVCRUSH_DB or the sample."),
]
WorkdirOption = Annotated[
    Path | None,
    typer.Option("--workdir", help="Workspace for builds, stores and models. Default: IVCRUSH_HOME or ./.ivcrush"),
]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=DATE_FORMATS,
        help="Serve the events decided up to the end of this day (default: today, UTC).",
    ),
]


def _preset(value: str) -> str:
    """A VRP tier preset's name, else the parser's usage error (exit code 2) listing the choices."""
    if value not in TIER_PRESETS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(TIER_PRESETS)}")
    return value


PresetOption = Annotated[
    str,
    typer.Option(
        callback=_preset,
        metavar="[" + "|".join(TIER_PRESETS) + "]",
        help="VRP tier preset (balanced is 2.0's own rule).",
    ),
]
# Workspace files are private to their owner: the warehouse and backups copy the trade journal.
WORKSPACE_UMASK = 0o077


def settings_for(workdir: Path | None, db: Path | None = None) -> Settings:
    """The settings (pyproject, environment) with the command's --workdir and --db on top; the workspace
    created (private: files 0600, folders 0700) and checked to be a writable folder."""
    settings = load_settings().with_overrides(workdir=workdir, db=db)
    os.umask(WORKSPACE_UMASK)
    prepare_workdir(settings)
    return settings


class CommandError(IvcrushError):
    """A use of a command that its options alone cannot refuse (e.g. two options that go together)."""


@contextmanager
def noting(note: str) -> Iterator[None]:
    """Add `note` under the message of a user-facing error raised in the block (what it left unchanged)."""
    try:
        yield
    except IvcrushError as exc:
        exc.add_note(note)
        raise

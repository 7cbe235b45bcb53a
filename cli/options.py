"""What the commands share: the consoles, the common options, the settings a command runs with, and the
one way a command refuses a use the parser cannot see or adds context to a user-facing error."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console

from ivcrush.constants import TIER_PRESETS
from ivcrush.errors import IvcrushError
from ivcrush.settings import Settings, load_settings
from ivcrush.workspace import prepare_workdir


class ResultConsole(Console):
    """The results' console (stdout). A stage shown under way (`cli.progress`) ends before a result is printed,
    so that the output keeps its order."""

    before_output: Callable[[], None] | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        if self.before_output is not None:
            self.before_output()
        super().print(*objects, **options)


# Rich wraps at 80 columns when output is not a terminal (pipes, CI logs): tables need more.
console = ResultConsole(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

DATE_FORMATS = ["%Y-%m-%d"]

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="IVCRUSH_DB",
        help="The 2.0 database to read (never written but by scan --write-back). Default: the config's db, else "
        "a generated sample in the workspace.",
    ),
]
WorkdirOption = Annotated[
    Path | None,
    typer.Option(
        "--workdir",
        envvar="IVCRUSH_HOME",
        help="Workspace for builds, stores and models. Default: the config's workdir, else ./.ivcrush",
    ),
]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=DATE_FORMATS,
        help="Serve the events decided up to the end of this day (default: today, UTC).",
    ),
]


JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON (errors too, on stderr).")]
EquityOption = Annotated[
    float | None,
    typer.Option("--equity", envvar="IVCRUSH_ACCOUNT_EQUITY", help="Account equity for sizing ($, > 0)."),
]
KellyOption = Annotated[
    float | None,
    typer.Option(
        "--kelly", envvar="IVCRUSH_ACCOUNT_KELLY_FRACTION", help="Fraction of full Kelly for sizing, in (0, 1]."
    ),
]
# The VRP tier presets as the parser's choices (listed in --help; anything else is a usage error, exit 2).
if TYPE_CHECKING:
    PresetName = str
else:
    PresetName = Literal[tuple(TIER_PRESETS)]
PresetOption = Annotated[PresetName, typer.Option(help="VRP tier preset (balanced is 2.0's own rule).")]
# Workspace files are private to their owner: the warehouse and backups copy the trade journal.
WORKSPACE_UMASK = 0o077


@dataclass
class RootOptions:
    """The options given before the command (`ivcrush -v --config PATH scan ...`), set by the root callback."""

    config: Path | None = None
    verbose: int = 0
    quiet: bool = False


root_options = RootOptions()


def notice(message: str) -> None:
    """What the user should know besides the result (on stderr, so that --json output stays one document);
    silent under -q."""
    if not root_options.quiet:
        errors.print(message, highlight=False, soft_wrap=True)


def settings_for(
    workdir: Path | None, db: Path | None = None, *, equity: float | None = None, kelly: float | None = None
) -> Settings:
    """The settings (config file, environment) with the command's --workdir and --db on top, and the tools'
    own output under -v; the workspace created (private: files 0600, folders 0700) and checked to be a
    writable folder."""
    settings = load_settings(config=root_options.config).with_overrides(
        workdir=workdir, db=db, equity=equity, kelly_fraction=kelly, tool_output=root_options.verbose > 0
    )
    os.umask(WORKSPACE_UMASK)
    prepare_workdir(settings)
    return settings


class CommandError(IvcrushError):
    """A use of a command that its options alone cannot refuse (e.g. two options that go together)."""


@contextmanager
def noting(*notes: str) -> Iterator[None]:
    """Add `notes` under the message of a user-facing error raised in the block (what it left unchanged)."""
    try:
        yield
    except IvcrushError as exc:
        for note in notes:
            exc.add_note(note)
        raise

"""The earnings calendar as the build sees it: a day's events, the rows merged into other events, and the
feature store's view of a day made on demand for the serving commands."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ivcrush.cli.options import WorkdirOption, notice, settings_for
from ivcrush.cli.render import print_events, print_json

if TYPE_CHECKING:
    from ivcrush.settings import Settings


def served_day(settings: Settings, day: date) -> None:
    """Make sure the feature store serves the events dated `day` (materialized as of that day on demand)."""
    from ivcrush.feature_repo.day_view import view_of_day

    generation, made = view_of_day(settings, day)
    if made and generation is not None:
        notice(
            f"materialized the feature store as of {day} for it (generation {generation.generation_id}, "
            f"{generation.online_rows:,} tickers)"
        )


def merged_lines(
    settings: Settings, day: date, ticker: str | None = None, command: str = "ivcrush scan {date}"
) -> list[str]:
    """The calendar rows dated `day` that the served build merged into an event of another date (`merged_notes`)."""
    from ivcrush.events import merged_notes
    from ivcrush.workspace import generation_build, read_pointer

    generation = read_pointer(settings.feast_dir)
    return merged_notes(generation_build(generation) if generation else None, day, ticker, command)


def events(
    day: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="Earnings date (YYYY-MM-DD).")],
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False,
) -> None:
    """The published build's events on a date, with the calendar rows of that date merged into another
    event (and the rows merged into each), timing conflicts and whether each label is trusted."""
    from ivcrush.events import events_on_day
    from ivcrush.workspace import NotPublishedError, current_build

    settings = settings_for(workdir)
    build = current_build(settings)
    if build is None:
        raise NotPublishedError(f"no published build in {settings.workdir}; run `ivcrush build` first")
    frame = events_on_day(build, day.date())
    if as_json:
        print_json(frame.to_dict(orient="records"))
    else:
        print_events(frame, day.date())

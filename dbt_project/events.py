"""The build's earnings calendar by day: the events a day holds, the calendar rows of that day that the build
merged into another event (`merged_rows` of earnings_events), and the next day worth scanning."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from ivcrush.settings import dbt_project_var
from ivcrush.workspace import BuildResult, mart_path

MERGED_SEPARATOR = ", "  # between the rows of earnings_events.merged_rows ("2025-12-03 BMO confirmed, ...")


def _events(build: BuildResult) -> pd.DataFrame:
    events = pd.read_parquet(mart_path(Path(build.build_dir), "earnings_events"))
    for column, missing in (("merged_rows", None), ("timing_conflict", False)):  # builds made before they existed
        if column not in events:
            events[column] = missing
    return events


def _row_of_day(merged_rows: object, day: str) -> str | None:
    if not isinstance(merged_rows, str):
        return None
    return next((row for row in merged_rows.split(MERGED_SEPARATOR) if row.startswith(day)), None)


def events_on_day(build: BuildResult, day: date) -> pd.DataFrame:
    """The build's events dated `day`, and the events that a calendar row dated `day` was merged into (column
    `merged_from`: that row, e.g. "2025-12-03 BMO confirmed"; None for the day's own events), by ticker."""
    events = _events(build)
    merged_from = events["merged_rows"].map(lambda rows: _row_of_day(rows, day.isoformat()))
    own = pd.to_datetime(events["earnings_date"]).dt.date == day
    chosen = events[own | merged_from.notna()].assign(merged_from=merged_from.where(~own, None))
    return chosen.sort_values(["ticker", "earnings_date"]).reset_index(drop=True)


def has_events_on(build: BuildResult, day: date) -> bool:
    """Whether the build's calendar has an event dated `day`."""
    dates = pd.read_parquet(mart_path(Path(build.build_dir), "earnings_events"), columns=["earnings_date"])
    return bool((pd.to_datetime(dates["earnings_date"]).dt.date == day).any())


def merged_away(build: BuildResult, day: date) -> pd.DataFrame:
    """Only the day's calendar rows that were merged into an event of another date (see `events_on_day`)."""
    events = events_on_day(build, day)
    return events[events["merged_from"].notna()].reset_index(drop=True)


def merged_notes(
    build: BuildResult | None, day: date, ticker: str | None = None, command: str = "ivcrush scan {date}"
) -> list[str]:
    """One line per calendar row dated `day` (of `ticker` only, where given) that the build merged into an event
    of another date: which row, which event, and the `command` for that event's date."""
    if build is None:
        return []
    merged = merged_away(build, day)
    if ticker is not None:
        merged = merged[merged["ticker"] == ticker]
    window = dbt_project_var("duplicate_event_window_days")
    return [
        f"{row.ticker} {row.merged_from} is the same event as {row.event_id} (rows less than {window} days apart; "
        f"the build keeps the confirmed, most recently updated row): "
        f"`{command.format(date=str(row.earnings_date)[:10])}`"
        for row in merged.itertuples()
    ]


def next_scan_date(build: BuildResult) -> tuple[date | None, str]:
    """The first date after the build's last stored outcome whose events have 2.0 implied moves (iv_log scans
    known before the decision), else the first calendar date after it; with a phrase saying which."""
    events = _events(build)
    last_outcome = events.loc[events["has_outcome"], "earnings_date"].max()
    upcoming = events[events["earnings_date"] > last_outcome] if pd.notna(last_outcome) else events
    if upcoming.empty:
        return None, f"no calendar date after the last stored outcome ({last_outcome})"
    options = pd.read_parquet(
        mart_path(Path(build.build_dir), "options_features"), columns=["event_id", "opt_implied_move_pct"]
    )
    implied = upcoming.merge(options, on="event_id")
    with_moves = implied.loc[implied["opt_implied_move_pct"].notna(), "earnings_date"]
    if not with_moves.empty:
        return pd.Timestamp(with_moves.min()).date(), "the next earnings date with 2.0 implied moves (iv_log)"
    return (
        pd.Timestamp(upcoming["earnings_date"].min()).date(),
        "the next calendar date (no later date has 2.0 implied moves in iv_log)",
    )

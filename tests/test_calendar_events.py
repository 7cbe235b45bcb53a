"""No event dropped silently: the calendar's duplicate rows collapse into the confirmed, most recently updated
one, the others are listed, and rows of one event that disagree on the timing make its label untrusted."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ivcrush.build import build
from ivcrush.events import events_on_day, merged_away, next_scan_date
from ivcrush.quality.raw import check_raw
from ivcrush.settings import Settings
from ivcrush.workspace import current_build, mart_path

runner = CliRunner()


def _events(settings: Settings) -> pd.DataFrame:
    return pd.read_parquet(mart_path(settings.current_build, "earnings_events")).set_index("event_id")


def test_confirmed_recently_updated_events_survive_in_the_real_snapshot(built_real: Settings) -> None:
    """CPB 2025-12-09 and CHWY 2025-12-10 are confirmed rows with iv_log implied moves; each was folded into an
    earlier row of the same event before. They are the events now, and the earlier rows are listed."""
    events = _events(built_real)
    options = pd.read_parquet(mart_path(built_real.current_build, "options_features")).set_index("event_id")
    for event_id, earlier in (("CPB:2025-12-09", "2025-12-03 BMO confirmed"), ("CHWY:2025-12-10", "2025-12-05")):
        event = events.loc[event_id]
        assert event["is_confirmed"] and event["source_rows"] == 3
        assert earlier in event["merged_rows"]
        assert pd.notna(options.loc[event_id, "opt_implied_move_pct"])
    assert not {"CPB:2025-12-03", "CHWY:2025-12-05"} & set(events.index)
    assert events.loc["CPB:2025-12-09", "timing_conflict"]  # BMO on 12-03, AMC on 12-09
    assert not events.loc["CHWY:2025-12-10", "timing_conflict"]  # AMC on both
    build_record = current_build(built_real)
    assert build_record is not None
    assert merged_away(build_record, date(2025, 12, 3)).set_index("ticker").loc["CPB", "event_id"] == "CPB:2025-12-09"
    assert next_scan_date(build_record) == (date(2025, 12, 9), "the next earnings date with 2.0 implied moves (iv_log)")


def test_validate_reports_the_real_snapshots_timing_conflict(real_snapshot: Path) -> None:
    conflict = next(check for check in check_raw(real_snapshot).checks if check.name == "calendar_timing_conflict")
    assert not conflict.success and conflict.severity == "warning"
    assert any("ticker=CPB" in example for example in conflict.examples)


@pytest.fixture(scope="module")
def conflicted(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, object]]:
    """The sample with two generated cases, built: a past BMO event with a stored move and a confirmed AMC row
    three days earlier (a timing conflict), and an upcoming event with a confirmed row five days earlier that
    was updated before the event's own row (a duplicate to merge)."""
    folder = tmp_path_factory.mktemp("calendar")
    db = folder / "ivcrush.db"
    db.write_bytes(sample_db.read_bytes())
    with sqlite3.connect(db) as con:
        past_ticker, past_day = con.execute(
            "SELECT m.ticker, m.earnings_date FROM historical_moves m JOIN earnings_calendar c "
            "USING (ticker, earnings_date) WHERE c.timing = 'BMO' ORDER BY m.earnings_date DESC LIMIT 1"
        ).fetchone()
        future_ticker, future_day = con.execute(
            "SELECT ticker, earnings_date FROM earnings_calendar c WHERE confirmed = 1 AND NOT EXISTS "
            "(SELECT 1 FROM historical_moves m WHERE m.ticker = c.ticker AND m.earnings_date >= c.earnings_date) "
            "ORDER BY earnings_date LIMIT 1"
        ).fetchone()
        conflict_day = (date.fromisoformat(past_day) - timedelta(days=3)).isoformat()
        early_day = (date.fromisoformat(future_day) - timedelta(days=5)).isoformat()
        con.executemany(
            "INSERT INTO earnings_calendar (ticker, earnings_date, timing, confirmed, created_at, updated_at) "
            "VALUES (?, ?, ?, 1, ?, ?)",
            [
                (past_ticker, conflict_day, "AMC", "2020-01-01 00:00:00", "2020-01-01 00:00:00"),
                (future_ticker, early_day, "BMO", "2020-01-01 00:00:00", "2020-01-01 00:00:00"),
            ],
        )
        con.execute(
            "UPDATE earnings_calendar SET timing = 'BMO', updated_at = '2030-01-01 00:00:00' "
            "WHERE ticker = ? AND earnings_date = ?",
            (future_ticker, future_day),
        )
    settings = Settings(workdir=folder / "work", db=db)
    build(settings)
    case = {
        "db": db,
        "conflict": (past_ticker, past_day, conflict_day),
        "merged": (future_ticker, future_day, early_day),
    }
    return settings, case


def test_conflicting_timings_untrust_the_label_and_are_reported(conflicted: tuple[Settings, dict]) -> None:
    settings, case = conflicted
    ticker, day, conflict_day = case["conflict"]
    event = _events(settings).loc[f"{ticker}:{day}"]
    assert event["timing"] == "BMO" and event["has_outcome"]  # the row with the move dates the event
    assert event["timing_conflict"] and not event["label_trusted"]
    assert event["merged_rows"] == f"{conflict_day} AMC confirmed"
    conflict = next(check for check in check_raw(case["db"]).checks if check.name == "calendar_timing_conflict")
    assert not conflict.success
    assert f"ticker={ticker}, earnings_date={conflict_day}, timing=AMC" in " ".join(conflict.examples)


def test_a_duplicate_row_is_merged_into_the_recently_updated_one_and_listed(
    conflicted: tuple[Settings, dict],
) -> None:
    from ivcrush.cli.app import app

    settings, case = conflicted
    ticker, day, early_day = case["merged"]
    events = _events(settings)
    assert f"{ticker}:{day}" in events.index and f"{ticker}:{early_day}" not in events.index
    record = current_build(settings)
    assert record is not None
    on_early = events_on_day(record, date.fromisoformat(early_day)).set_index("ticker")
    assert on_early.loc[ticker, "event_id"] == f"{ticker}:{day}"
    assert on_early.loc[ticker, "merged_from"] == f"{early_day} BMO confirmed"
    result = runner.invoke(app, ["events", early_day, "--workdir", str(settings.workdir)], catch_exceptions=False)
    text = re.sub(r"[\s│]+", " ", result.output)
    assert result.exit_code == 0
    assert f"{ticker} {day} BMO yes" in text and f"{early_day} BMO confirmed merged into this event" in text


def test_scan_and_predict_name_the_event_a_days_row_was_merged_into(conflicted: tuple[Settings, dict]) -> None:
    from ivcrush.cli.commands.calendar import merged_lines
    from ivcrush.feature_repo.materialize import materialize

    settings, case = conflicted
    ticker, day, early_day = case["merged"]
    materialize(settings, date.fromisoformat(day))
    (line,) = merged_lines(settings, date.fromisoformat(early_day))
    assert line.startswith(f"{ticker} {early_day} BMO confirmed is the same event as {ticker}:{day}")
    assert line.endswith(f"`ivcrush scan {day}`")
    (note,) = merged_lines(settings, date.fromisoformat(early_day), ticker, f"ivcrush predict {ticker} --date {{date}}")
    assert note.endswith(f"`ivcrush predict {ticker} --date {day}`")
    assert merged_lines(settings, date.fromisoformat(early_day), "NOPE") == []

"""`scan DATE` works for any date: the feature store's view of that day is materialized on demand; `run` scans the
next date with 2.0 implied moves and says so."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ivcrush.build import build
from ivcrush.cli.app import app
from ivcrush.events import next_scan_date
from ivcrush.feature_repo.materialize import materialize
from ivcrush.settings import Settings
from ivcrush.training.release import train_and_register
from ivcrush.workspace import current_build, published

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[date]]:
    """The sample built, published as of its earliest upcoming scanned date, trained; and its scanned dates."""
    settings = Settings(workdir=tmp_path_factory.mktemp("any-day") / "work", db=sample_db)
    build(settings)
    with sqlite3.connect(f"file:{sample_db}?mode=ro", uri=True) as con:
        scanned = sorted({date.fromisoformat(d) for (d,) in con.execute("SELECT earnings_date FROM iv_log")})
    materialize(settings, scanned[0])
    train_and_register(settings, num_boost_round=30, quick_folds=2)
    return settings, scanned


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_scan_materializes_the_view_of_another_day(trained: tuple[Settings, list[date]]) -> None:
    settings, scanned = trained
    day = scanned[-1]
    assert published(settings).as_of != day.isoformat()
    result = runner.invoke(app, ["scan", day.isoformat(), "--workdir", str(settings.workdir)], catch_exceptions=False)
    text = _plain(result.output)
    assert result.exit_code == 0, text
    assert f"materialized the feature store as of {day}" in text
    assert f"earnings scan {day}, ranked" in text and "does not hold" not in text
    assert published(settings).as_of == day.isoformat()
    again = runner.invoke(app, ["scan", day.isoformat(), "--workdir", str(settings.workdir)], catch_exceptions=False)
    assert again.exit_code == 0 and "materialized" not in again.output  # the view of that day is kept


def test_the_next_scan_date_is_the_next_with_implied_moves(
    trained: tuple[Settings, list[date]], tmp_path: Path
) -> None:
    settings, _ = trained
    record = current_build(settings)
    assert record is not None
    events = pd.read_parquet(Path(record.build_dir) / "marts" / "earnings_events.parquet")
    options = pd.read_parquet(Path(record.build_dir) / "marts" / "options_features.parquet")
    last_outcome = events.loc[events["has_outcome"], "earnings_date"].max()
    upcoming = events[events["earnings_date"] > last_outcome].merge(options, on="event_id")
    expected = pd.Timestamp(upcoming.loc[upcoming["opt_implied_move_pct"].notna(), "earnings_date"].min()).date()
    assert next_scan_date(record) == (expected, "the next earnings date with 2.0 implied moves (iv_log)")
    copy = tmp_path / "build"
    shutil.copytree(Path(record.build_dir) / "marts", copy / "marts")
    options.assign(opt_implied_move_pct=float("nan")).to_parquet(copy / "marts" / "options_features.parquet")
    first_calendar_date = pd.Timestamp(events.loc[events["earnings_date"] > last_outcome, "earnings_date"].min())
    assert next_scan_date(replace(record, build_dir=str(copy))) == (
        first_calendar_date.date(),
        "the next calendar date (no later date has 2.0 implied moves in iv_log)",
    )


def test_scan_write_back_json_is_one_document(trained: tuple[Settings, list[date]], tmp_path: Path) -> None:
    settings, scanned = trained
    assert settings.db is not None
    copy = tmp_path / "ivcrush.db"
    shutil.copy2(settings.db, copy)  # the same content as the served build's source: write-back accepts it
    day = scanned[-1]
    args = ["scan", day.isoformat(), "--write-back", "--db", str(copy), "--workdir", str(settings.workdir), "--json"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["date"] == day.isoformat() and done["write_back"]["database"] == str(copy)
    assert done["write_back"]["events_written"] == len(done["recommendations"])

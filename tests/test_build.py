"""`ivcrush build` over generated data: atomic publishing, leakage, one row per event."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from ivcrush.build import BuildError, build
from ivcrush.build_runner import mart_written_callback, run_dbt
from ivcrush.quality.report import QualityGateError
from ivcrush.settings import Settings
from ivcrush.source.reader import SourceDataError, read_source
from ivcrush.workspace import MARTS, current_build, mart_path
from tests.conftest import folder_state

FEATURE_MARTS = [m for m in MARTS if m.endswith("_features")]


def _features(settings: Settings) -> pd.DataFrame:
    frames = [pd.read_parquet(mart_path(settings.current_build, m)).set_index("event_id") for m in FEATURE_MARTS]
    joined = frames[0]
    for frame in frames[1:]:
        joined = joined.join(frame.drop(columns=["ticker", "event_timestamp"]))
    return joined.sort_index()


def test_every_mart_has_one_row_per_event(built_sample: Settings) -> None:
    result = current_build(built_sample)
    assert result is not None
    events = result.row_counts["earnings_events"]
    assert events > 500
    for mart in FEATURE_MARTS:
        assert result.row_counts[mart] == events, mart
    assert 0 < result.row_counts["event_labels"] < events


def test_dbt_unit_tests_pass(built_sample: Settings, tmp_path: Path) -> None:
    """The unit tests in the models' YAML (left out of production builds), on a copy of a real build."""
    build_dir = tmp_path / "build"
    shutil.copytree(built_sample.current_build.resolve(), build_dir)
    settings = replace(built_sample, workdir=tmp_path / "work")
    run_dbt(build_dir, settings, ["test", "--select", "test_type:unit"])
    results = json.loads((settings.workdir / "dbt" / "target" / "run_results.json").read_text())["results"]
    assert len(results) >= 5
    assert {r["status"] for r in results} == {"pass"}
    assert all(r["unique_id"].startswith("unit_test.") for r in results)


def test_dbt_reports_each_mart_once_its_model_ran() -> None:
    """The build checks a mart as soon as dbt says its model ran: models that are not marts, tests and failed
    models are not reported."""

    def finished(name: str, resource_type: str = "model", status: str = "success", event: str = "NodeFinished"):
        node = SimpleNamespace(node_name=name, resource_type=resource_type)
        data = SimpleNamespace(node_info=node, run_result=SimpleNamespace(status=status))
        return SimpleNamespace(info=SimpleNamespace(name=event), data=data)

    written: list[str] = []
    callback = mart_written_callback(written.append)
    for event in (
        finished("earnings_events"),
        finished("int_earnings_events_timed"),
        finished("event_labels", status="error"),
        finished("historical_move_features", event="NodeStart"),
        finished("unique_calendar_features_event_id", resource_type="test"),
        finished("calendar_features"),
    ):
        callback(event)
    assert written == ["earnings_events", "calendar_features"]


def test_build_never_writes_the_users_folder(sample_copy: Path, tmp_path: Path) -> None:
    before = folder_state(sample_copy.parent)
    build(Settings(workdir=tmp_path / "work", db=sample_copy))
    assert folder_state(sample_copy.parent) == before


def test_failed_build_keeps_the_previous_one(sample_copy: Path, tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "work", db=sample_copy)
    first = build(settings)
    with sqlite3.connect(sample_copy) as con:
        con.execute("DROP TABLE iv_log")
    with pytest.raises(SourceDataError, match="table iv_log: missing"):
        build(settings)
    assert current_build(settings).build_id == first.build_id
    assert [p.name for p in settings.builds_dir.iterdir()] == [first.build_id]


def test_dbt_failure_publishes_nothing(sample_copy: Path, tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "work", db=sample_copy)
    first = build(settings)
    with sqlite3.connect(sample_copy) as con:  # a duplicate scan breaks a uniqueness test in dbt
        con.execute("CREATE TABLE iv_copy AS SELECT * FROM iv_log")
        con.execute("DROP TABLE iv_log")
        con.execute("CREATE TABLE iv_log AS SELECT * FROM iv_copy UNION ALL SELECT * FROM iv_copy")
    with pytest.raises(BuildError, match="unique"):
        build(settings)
    assert current_build(settings).build_id == first.build_id
    assert len(list(settings.builds_dir.iterdir())) == 1


def test_workspace_next_to_the_database_is_refused(sample_copy: Path) -> None:
    with pytest.raises(BuildError, match="folder of the database"):
        build(Settings(workdir=sample_copy.parent, db=sample_copy))


def test_features_ignore_every_outcome_after_the_decision_time(
    built_sample: Settings, sample_db: Path, tmp_path: Path
) -> None:
    """Delete every move from a cut-off date on and rebuild: no earlier event's features may change.

    A feature that looks ahead (its own outcome, a later event, a centred window) changes here.
    """
    events = pd.read_parquet(mart_path(built_sample.current_build, "earnings_events"))
    cutoff = events.loc[events["has_outcome"], "earnings_date"].quantile(0.6)
    truncated = tmp_path / "truncated.db"
    shutil.copy2(sample_db, truncated)
    with sqlite3.connect(truncated) as con:
        deleted = con.execute(
            "DELETE FROM historical_moves WHERE earnings_date >= ?", (pd.Timestamp(cutoff).date().isoformat(),)
        ).rowcount
    assert deleted > 100
    truncated_settings = replace(built_sample, workdir=tmp_path / "work", db=truncated)
    build(truncated_settings)

    full = _features(built_sample)
    cut = _features(truncated_settings)
    before_cutoff = full.index[full["event_timestamp"] < pd.Timestamp(cutoff, tz="UTC")]
    assert len(before_cutoff) > 200
    pd.testing.assert_frame_equal(full.loc[before_cutoff], cut.loc[before_cutoff], check_like=True)
    after = full.index[full["event_timestamp"] > pd.Timestamp(cutoff, tz="UTC") + pd.Timedelta(days=10)]
    changed = (full.loc[after, "hm_prior_events"] != cut.loc[after, "hm_prior_events"]).sum()
    assert changed > 0, "the test must be able to see a difference at all"


def _writer_during_the_build(monkeypatch: pytest.MonkeyPatch, db: Path, *statements: str) -> None:
    """Run `statements` against the user's database right after the build read it (a writer mid-build)."""
    import ivcrush.build

    real_load_raw = ivcrush.build.load_raw

    def load_raw_after_a_write(snapshot: object, warehouse: Path) -> None:
        with sqlite3.connect(db) as con:
            for statement in statements:
                con.execute(statement)
        real_load_raw(snapshot, warehouse)  # type: ignore[arg-type]

    monkeypatch.setattr(ivcrush.build, "load_raw", load_raw_after_a_write)


def test_the_gate_checks_the_snapshot_built_not_a_row_fixed_meanwhile(
    sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(sample_copy) as con:
        first = con.execute("SELECT min(id) FROM historical_moves").fetchone()[0]
        good = con.execute("SELECT prev_close FROM historical_moves WHERE id = ?", (first,)).fetchone()[0]
        con.execute("UPDATE historical_moves SET prev_close = -5 WHERE id = ?", (first,))
    settings = Settings(workdir=tmp_path / "work", db=sample_copy)
    _writer_during_the_build(
        monkeypatch, sample_copy, f"UPDATE historical_moves SET prev_close = {good} WHERE id = {first}"
    )
    with pytest.raises(QualityGateError, match=r"prices_positive \(historical_moves.prev_close\)"):
        build(settings)
    assert current_build(settings) is None


def test_rows_written_during_the_build_neither_fail_nor_enter_it(
    sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = read_source(sample_copy)
    settings = Settings(workdir=tmp_path / "work", db=sample_copy)
    _writer_during_the_build(
        monkeypatch,
        sample_copy,
        "INSERT INTO historical_moves (ticker, earnings_date, prev_close, earnings_open, earnings_high, earnings_low, "
        "earnings_close, intraday_move_pct, gap_move_pct, close_move_pct) "
        "VALUES ('ZZZZ', '2025-06-02', -5, 1, 1, 1, 1, 0, 0, 0)",
    )
    result = build(settings)
    assert result.source_fingerprint == before.fingerprint != read_source(sample_copy).fingerprint
    events = pd.read_parquet(mart_path(settings.current_build, "earnings_events"))
    assert "ZZZZ" not in set(events["ticker"])

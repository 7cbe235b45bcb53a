"""Data quality: the real snapshot and the sample pass (with the AMC warning); distribution checks catch faults."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from ivcrush.cli.render import render_summary
from ivcrush.quality.distribution import check_amc_fault, check_coverage, check_moves_absolute, check_moves_in_percent
from ivcrush.quality.docs import write_report
from ivcrush.quality.marts import MartSuite, check_marts
from ivcrush.quality.raw import check_raw
from ivcrush.quality.report import DEFAULT_SEVERITY, QualityGateError, QualityReport, gate
from ivcrush.quality.validation import validate
from ivcrush.quality.worker import MartChecks
from ivcrush.settings import Settings
from ivcrush.source.reader import SourceDataError
from ivcrush.workspace import MARTS, mart_path
from tests.conftest import file_digest, folder_state


def _failed(report: QualityReport, name: str) -> list:
    return [c for c in report.checks if c.name == name and not c.success]


def _amc_rows(db: Path) -> int:
    uri = f"file:{db}?mode=ro&immutable=1"
    with sqlite3.connect(uri, uri=True) as con:
        return con.execute(
            "SELECT count(*) FROM historical_moves m JOIN earnings_calendar c USING (ticker, earnings_date) "
            "WHERE c.timing = 'AMC'"
        ).fetchone()[0]


@pytest.fixture(scope="module")
def sample_report(sample_db: Path) -> QualityReport:
    return check_raw(sample_db, today=date(2025, 6, 30))


@pytest.mark.real_snapshot
def test_real_snapshot_passes_with_the_amc_warning(real_snapshot: Path) -> None:
    before = folder_state(real_snapshot.parent)
    report = check_raw(real_snapshot)
    assert folder_state(real_snapshot.parent) == before
    assert report.errors == [], [c.message for c in report.errors]
    amc = _failed(report, "amc_move_ratio")
    assert len(amc) == 1 and amc[0].severity == "warning"
    assert amc[0].unexpected_count == _amc_rows(real_snapshot) == 2193
    assert "2193 AMC row(s)" in amc[0].message and "AMC 1.80%" in amc[0].message
    names = {c.name for c in report.checks}
    assert {"unique_event_normalized", "close_move_matches_ohlc", "no_future_moves", "coverage_gap"} <= names


@pytest.mark.real_snapshot
def test_real_snapshot_marts_pass(built_real: Settings) -> None:
    report = check_marts(built_real.current_build)
    assert report.errors == [], [c.message for c in report.errors]


def test_sample_passes_with_the_amc_warning(sample_db: Path, sample_report: QualityReport) -> None:
    assert sample_report.errors == [], [c.message for c in sample_report.errors]
    amc = _failed(sample_report, "amc_move_ratio")
    assert amc and amc[0].unexpected_count == _amc_rows(sample_db)
    assert {c.name for c in sample_report.warnings} <= {"amc_move_ratio", "amc_move_ratio_per_ticker"}
    gate(sample_report, "the sample")  # warnings do not stop publishing


def test_check_raw_writes_nothing_beside_the_database(sample_copy: Path) -> None:
    before = folder_state(sample_copy.parent)
    check_raw(sample_copy, today=date(2025, 6, 30))
    assert folder_state(sample_copy.parent) == before


def test_path_with_spaces_and_uri_characters(sample_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "my data %20 #1?" / "ivcrush.db"
    target.parent.mkdir()
    shutil.copy2(sample_db, target)
    report = check_raw(target, today=date(2025, 6, 30))
    assert report.errors == []
    assert [p.name for p in target.parent.iterdir()] == ["ivcrush.db"]


def test_sample_marts_pass(built_sample: Settings) -> None:
    report = check_marts(built_sample.current_build)
    assert report.errors == [], [c.message for c in report.errors]
    names = {c.name for c in report.checks}
    assert {"mart_one_row_per_event", "mart_event_ids_match", "history_features_present"} <= names
    assert {"abs_move_range", "rate_range", "labels_match_events"} <= names


def _damaged_build(built_sample: Settings, tmp_path: Path) -> Path:
    """A copy of the sample's marts with duplicate rows, a rate out of range, missing history and labels."""
    build_dir = tmp_path / "build"
    (build_dir / "marts").mkdir(parents=True)
    for mart in MARTS:
        shutil.copy2(mart_path(built_sample.current_build, mart), mart_path(build_dir, mart))
    vol = pd.read_parquet(mart_path(build_dir, "volatility_features"))
    vol = pd.concat([vol, vol.iloc[:2]])
    vol.loc[vol.index[0], "vol_up_rate_8q"] = 1.5
    vol.to_parquet(mart_path(build_dir, "volatility_features"))
    hm = pd.read_parquet(mart_path(build_dir, "historical_move_features"))
    with_history = hm.index[hm["hm_prior_events"] > 0]
    hm.loc[with_history[:3], "hm_close_last"] = None
    hm.loc[with_history[3], "hm_close_mean_4q"] = -1.0
    hm.to_parquet(mart_path(build_dir, "historical_move_features"))
    labels = pd.read_parquet(mart_path(build_dir, "event_labels"))
    labels.iloc[1:].to_parquet(mart_path(build_dir, "event_labels"))
    return build_dir


def test_damaged_marts_fail(built_sample: Settings, tmp_path: Path) -> None:
    report = check_marts(_damaged_build(built_sample, tmp_path))
    failed = {(c.name, c.table, c.column) for c in report.errors}
    assert ("mart_one_row_per_event", "volatility_features", "event_id") in failed
    assert ("mart_event_ids_match", "volatility_features", None) in failed
    assert ("rate_range", "volatility_features", "vol_up_rate_8q") in failed
    assert ("history_features_present", "historical_move_features", "hm_close_last") in failed
    assert ("abs_move_range", "historical_move_features", "hm_close_mean_4q") in failed
    assert ("labels_match_events", "event_labels", None) in failed
    missing = next(c for c in report.errors if c.name == "history_features_present")
    assert missing.unexpected_count == 3 and "event_id=" in missing.examples[0]
    with pytest.raises(QualityGateError, match=r"refusing to publish features: \d+ error check\(s\) failed"):
        gate(report, "features")


def test_marts_checked_as_they_are_written_report_as_checked_at_once(built_sample: Settings, tmp_path: Path) -> None:
    """A build checks each mart as dbt writes it, in dbt's order: volatility_features (compared with the prior
    events of historical_move_features) waits for that mart; the report is the one of all marts at once."""
    build_dir = _damaged_build(built_sample, tmp_path)
    suite = MartSuite(build_dir)
    for mart in ["volatility_features", "earnings_events", "event_labels", "historical_move_features"]:
        suite.read(mart)
        suite.check_ready()
    assert suite.finish().checks == check_marts(build_dir).checks


def test_a_mart_failing_while_dbt_builds_fails_the_build_when_the_marts_report_is_asked_for(tmp_path: Path) -> None:
    """The build asks for the raw tables' report (gate) and dbt's outcome first: a mart that cannot be checked
    as it is written (here: missing) raises only when the marts' report is asked for, as when checked last."""
    checks = MartChecks(QualityReport([]), tmp_path, None)
    checks.written("earnings_events")
    with pytest.raises(FileNotFoundError, match="mart earnings_events missing"):
        checks.report()


def test_severity_overrides(sample_db: Path, sample_report: QualityReport) -> None:
    assert DEFAULT_SEVERITY["amc_move_ratio"] == "warning"
    strict = check_raw(sample_db, today=date(2025, 6, 30), severity={"amc_move_ratio": "error"})
    assert [c.name for c in strict.errors] == ["amc_move_ratio"]
    with pytest.raises(QualityGateError, match=r"refusing to publish raw data: 1 error check.*amc_move_ratio"):
        gate(strict, "raw data")
    with pytest.raises(ValueError, match="neither 'error' nor 'warning'"):
        check_raw(sample_db, severity={"amc_move_ratio": "fatal"})
    with pytest.raises(ValueError, match="no such check"):
        check_raw(sample_db, severity={"no_such_check": "error"})


def test_write_report_and_summary(sample_report: QualityReport, built_sample: Settings, tmp_path: Path) -> None:
    report = sample_report + check_marts(built_sample.current_build)
    path = write_report(report, tmp_path / "quality")
    payload = json.loads(path.read_text())
    assert path.name == "result.json" and payload["errors"] == 0 and payload["warnings"] >= 1
    assert len(payload["checks"]) == len(report.checks)
    for label in ("raw", "marts"):
        index = Path(payload["data_docs"][label])
        assert index == tmp_path / "quality" / "data_docs" / label / "index.html"
        assert index.is_file()
        pages = list((index.parent / "validations").rglob("*.html"))
        assert pages, f"no validation page in the {label} data docs"
    assert "amc_move_ratio" in (tmp_path / "quality" / "summary.html").read_text()

    out = io.StringIO()
    render_summary(report, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "passed with warnings" in text and "amc_move_ratio" in text and "AMC row(s) affected" in text


def _workdir_publishing(build: Settings, workdir: Path) -> Path:
    """A fresh workspace whose published build is `build`'s."""
    workdir.mkdir()
    (workdir / "current").symlink_to(build.current_build.resolve())
    return workdir


def test_validate_checks_the_published_marts_built_from_the_same_database(
    built_sample: Settings, tmp_path: Path
) -> None:
    workdir = _workdir_publishing(built_sample, tmp_path / "work")
    validation = validate(Settings(workdir=workdir, db=built_sample.db))
    assert validation.out_dir.parent == workdir / "validation"
    assert re.fullmatch(r"\d{8}T\d{6}", validation.out_dir.name)
    assert validation.result_path == validation.out_dir / "result.json" and validation.result_path.is_file()
    assert validation.summary_path == validation.out_dir / "summary.html" and validation.summary_path.is_file()
    assert {c.suite for c in validation.report.checks} == {"raw_tables", "raw_distribution", "marts"}
    assert validation.report.errors == [], [c.message for c in validation.report.errors]
    payload = json.loads(validation.result_path.read_text())
    assert payload["errors"] == 0 and len(payload["checks"]) == len(validation.report.checks)
    assert set(payload["data_docs"]) == {"raw", "marts"}


def test_validate_leaves_out_the_marts_of_another_database(
    built_sample: Settings, sample_copy: Path, tmp_path: Path
) -> None:
    workdir = _workdir_publishing(built_sample, tmp_path / "work")
    validation = validate(Settings(workdir=workdir, db=sample_copy))
    assert {c.suite for c in validation.report.checks} == {"raw_tables", "raw_distribution"}
    assert set(json.loads(validation.result_path.read_text())["data_docs"]) == {"raw"}
    with pytest.raises(SourceDataError, match="no such file"):
        validate(Settings(workdir=tmp_path / "other", db=tmp_path / "missing.db"))
    assert not (tmp_path / "other").exists()


# --- distribution checks on hand-made frames ------------------------------------------------------------------


def _moves(n: int = 40, scale: float = 4.0) -> pd.DataFrame:
    values = [scale * (1 + (i % 5) / 4) for i in range(n)]
    return pd.DataFrame(
        {
            "id": range(1, n + 1),
            "ticker": [f"T{i % 4}" for i in range(n)],
            "earnings_date": pd.date_range("2024-01-01", periods=n, freq="7D"),
            "close_move_pct": values,
            "gap_move_pct": [v * 0.7 for v in values],
            "intraday_move_pct": [v * 1.3 for v in values],
        }
    )


def test_signed_move_column_is_caught() -> None:
    moves = _moves()
    assert all(c.success for c in check_moves_absolute(moves))
    moves.loc[moves.index[::3], "close_move_pct"] *= -1
    failed = [c for c in check_moves_absolute(moves) if not c.success]
    assert [c.column for c in failed] == ["close_move_pct"]
    assert failed[0].unexpected_count == 14 and failed[0].severity == "error"
    assert "stored signed" in failed[0].message and failed[0].examples[0].startswith("id=1, ticker=T0")


def test_fraction_move_column_is_caught() -> None:
    moves = _moves()
    assert all(c.success for c in check_moves_in_percent(moves))
    moves["gap_move_pct"] = moves["gap_move_pct"] / 100
    failed = [c for c in check_moves_in_percent(moves) if not c.success]
    assert [c.column for c in failed] == ["gap_move_pct"] and "fractions" in failed[0].message


def test_coverage_gap_is_caught() -> None:
    busy = pd.Series(pd.date_range("2022-01-01", "2024-12-31", freq="D"))
    assert check_coverage(busy)[0].success
    sparse_start = pd.concat([pd.Series(pd.to_datetime(["2008-03-01", "2012-05-01"])), busy])
    assert check_coverage(sparse_start)[0].success  # thin early history before the busy era is no gap
    gap = busy[~busy.dt.to_period("Q").astype(str).isin(["2023Q2", "2023Q3"])]
    gap = pd.concat([gap, pd.Series(pd.to_datetime(["2023-05-02"]))])
    result = check_coverage(gap)[0]
    assert not result.success and result.unexpected_count == 2 and result.severity == "warning"
    assert result.examples == ["2023Q2: 1 move(s)", "2023Q3: 0 move(s)"]


def test_amc_fault_overall_and_per_ticker() -> None:
    moves = _moves(80)  # four tickers, each with 10 AMC and 10 BMO rows
    moves["timing"] = ["AMC" if (i // 4) % 2 == 0 else "BMO" for i in range(80)]
    assert all(c.success for c in check_amc_fault(moves))
    moves.loc[moves["timing"].eq("AMC") & moves["ticker"].eq("T0"), "close_move_pct"] /= 4
    overall, per_ticker = check_amc_fault(moves)
    assert overall.success  # one ticker of four: the overall ratio stays above 0.6
    assert not per_ticker.success and per_ticker.unexpected_count == 10
    assert per_ticker.examples[0].startswith("ticker=T0: AMC")
    moves.loc[moves["timing"].eq("AMC"), "close_move_pct"] /= 4
    overall, per_ticker = check_amc_fault(moves)
    assert not overall.success and overall.unexpected_count == 40 and "40 AMC row(s) affected" in overall.message
    assert overall.severity == "warning" and per_ticker.unexpected_count == 40


def test_file_unchanged_by_check(sample_copy: Path) -> None:
    digest = file_digest(sample_copy)
    check_raw(sample_copy, today=date(2025, 6, 30))
    assert file_digest(sample_copy) == digest

"""The bad-input matrix: each damaged database is refused with a message naming where, and is never changed."""

from __future__ import annotations

import math
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ivcrush.serving.writeback
import ivcrush.source.reader
from ivcrush.cli.app import app
from ivcrush.quality.raw import check_raw
from ivcrush.quality.report import QualityReport
from ivcrush.serving.implied import implied_from_csv, implied_from_options, unknown_tickers
from ivcrush.serving.market import StrategyError
from ivcrush.serving.writeback import (
    BACKUPS_KEPT,
    WriteBackError,
    write_back,
    write_back_recommendations,
)
from ivcrush.settings import SettingsError, load_settings
from ivcrush.source.reader import SourceDataError, read_source
from ivcrush.training.backtest.forecasts import BacktestError
from ivcrush.training.backtest.simulate import _market_excess, check_dates
from ivcrush.training.splits import EvaluationError, walk_forward_splits
from ivcrush.training.train import MOVE_LABEL
from tests.conftest import file_digest, folder_state

TODAY = date(2025, 6, 30)


def _damage(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # the WAL was checkpointed away


@contextmanager
def _unchanged(path: Path) -> Iterator[None]:
    """The file's bytes and its folder's listing are identical after the block."""
    folder = path.parent
    before = folder_state(folder) if folder.is_dir() else None
    digest = file_digest(path) if path.is_file() else None
    yield
    if digest is not None:
        assert file_digest(path) == digest
    if before is not None:
        assert folder_state(folder) == before


def _refused(path: Path, match: str) -> SourceDataError:
    with _unchanged(path), pytest.raises(SourceDataError, match=match) as info:
        check_raw(path, today=TODAY)
    return info.value


def _errors(path: Path, **kwargs: object) -> QualityReport:
    with _unchanged(path):
        report = check_raw(path, today=kwargs.pop("today", TODAY))  # type: ignore[arg-type]
    assert report.errors, "expected failed error checks"
    return report


def _error(report: QualityReport, name: str, column: str | None = None):
    found = [c for c in report.errors if c.name == name and (column is None or c.column == column)]
    assert found, f"{name} {column} not among {[(c.name, c.column) for c in report.errors]}"
    return found[0]


def _first_id(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as con:
        return con.execute("SELECT min(id) FROM historical_moves").fetchone()[0]


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "ivcrush.db"
    _refused(path, r"no such file")
    assert not path.parent.exists()


def test_not_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "ivcrush.db"
    path.write_text("ticker,earnings_date\nAAPL,2024-01-01\n")
    _refused(path, r"not a SQLite database")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "ivcrush.db"
    path.write_bytes(b"")
    _refused(path, r"not a SQLite database")


def test_truncated_database(sample_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "ivcrush.db"
    path.write_bytes(sample_db.read_bytes()[:4096])
    _refused(path, r"ivcrush.db")


def test_random_bytes_after_the_header(tmp_path: Path) -> None:
    path = tmp_path / "ivcrush.db"
    path.write_bytes(ivcrush.source.reader.SQLITE_HEADER + os.urandom(64 * 1024))
    _refused(path, r"cannot be read")


def test_database_without_tables(tmp_path: Path) -> None:
    path = tmp_path / "ivcrush.db"
    _damage(path, "CREATE TABLE t (x)", "DROP TABLE t")
    _refused(path, r"table historical_moves: missing")


def test_required_table_missing(sample_copy: Path) -> None:
    _damage(sample_copy, "DROP TABLE earnings_calendar")
    _refused(sample_copy, r"table earnings_calendar: missing")


def test_required_column_renamed(sample_copy: Path) -> None:
    _damage(sample_copy, "ALTER TABLE historical_moves RENAME COLUMN close_move_pct TO close_pct")
    _refused(sample_copy, r"table historical_moves: column\(s\) close_move_pct missing")


def test_text_in_a_numeric_column(sample_copy: Path) -> None:
    first = _first_id(sample_copy)
    _damage(sample_copy, f"UPDATE historical_moves SET prev_close = 'n/a' WHERE id = {first}")
    error = _refused(sample_copy, r"historical_moves.prev_close: 1 row\(s\) hold non-numeric values")
    assert f"id={first}" in str(error) and "'n/a'" in str(error)


def test_null_keys(sample_copy: Path) -> None:
    first = _first_id(sample_copy)
    _damage(
        sample_copy,
        "CREATE TABLE moves_copy AS SELECT * FROM historical_moves",  # no NOT NULL constraint on the copy
        "DROP TABLE historical_moves",
        "ALTER TABLE moves_copy RENAME TO historical_moves",
        f"UPDATE historical_moves SET ticker = NULL WHERE id = {first}",
    )
    error = _refused(sample_copy, r"historical_moves.ticker: 1 row\(s\) have a NULL key")
    assert f"id={first}" in str(error)


def test_duplicate_event_in_lower_case(sample_copy: Path) -> None:
    first = _first_id(sample_copy)
    columns = (
        "earnings_date, prev_close, earnings_open, earnings_high, earnings_low, earnings_close, "
        "intraday_move_pct, gap_move_pct, close_move_pct, volume_before, volume_earnings"
    )
    _damage(
        sample_copy,
        f"INSERT INTO historical_moves (ticker, {columns}) "
        f"SELECT lower(ticker), {columns} FROM historical_moves WHERE id = {first}",
    )
    report = _errors(sample_copy)
    duplicate = _error(report, "unique_event_normalized")
    assert duplicate.table == "historical_moves" and duplicate.unexpected_count == 2
    assert f"id={first}" in duplicate.examples[0]
    assert _error(report, "move_has_calendar_row").unexpected_count == 1


def test_zero_and_negative_prices(sample_copy: Path) -> None:
    first = _first_id(sample_copy)
    _damage(
        sample_copy,
        f"UPDATE historical_moves SET prev_close = 0 WHERE id = {first}",
        f"UPDATE historical_moves SET earnings_low = -1.5 WHERE id = {first + 1}",
    )
    report = _errors(sample_copy)
    zero = _error(report, "prices_positive", "prev_close")
    assert zero.unexpected_count == 1 and f"id={first}" in zero.examples[0]
    assert "historical_moves" in zero.where and "prev_close <= 0" in zero.message
    negative = _error(report, "prices_positive", "earnings_low")
    assert f"id={first + 1}" in negative.examples[0]


def test_high_below_low(sample_copy: Path) -> None:
    first = _first_id(sample_copy)
    _damage(
        sample_copy,
        f"UPDATE historical_moves SET earnings_high = earnings_low, earnings_low = earnings_high WHERE id = {first}",
    )
    report = _errors(sample_copy)
    swapped = _error(report, "ohlc_consistent", "earnings_high >= earnings_low")
    assert swapped.unexpected_count == 1 and f"id={first}" in swapped.examples[0]
    assert "earnings_high < earnings_low" in swapped.message


def test_future_dated_move(sample_copy: Path) -> None:
    first = _first_id(sample_copy)
    _damage(
        sample_copy,
        f"UPDATE earnings_calendar SET earnings_date = '2025-09-01' WHERE (ticker, earnings_date) = "
        f"(SELECT ticker, earnings_date FROM historical_moves WHERE id = {first})",
        f"UPDATE historical_moves SET earnings_date = '2025-09-01' WHERE id = {first}",
    )
    report = _errors(sample_copy)
    future = _error(report, "no_future_moves")
    assert future.unexpected_count == 1 and "2025-09-01" in future.examples[0]
    assert "after today (2025-06-30)" in future.message


def test_move_columns_disagree_with_ohlc(sample_copy: Path) -> None:
    first = _first_id(sample_copy)
    _damage(sample_copy, f"UPDATE historical_moves SET close_move_pct = close_move_pct + 1 WHERE id = {first}")
    report = _errors(sample_copy)
    mismatch = _error(report, "close_move_matches_ohlc")
    assert mismatch.unexpected_count == 1 and f"id={first}" in mismatch.examples[0]


def test_database_locked_by_a_writer(sample_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer holding an exclusive lock with its rollback journal beside the file: refused, not waited for."""
    _damage(sample_copy, "PRAGMA journal_mode=DELETE")
    digest = file_digest(sample_copy)
    monkeypatch.setattr(ivcrush.source.reader, "BUSY_TIMEOUT_S", 0.2)
    writer = sqlite3.connect(sample_copy, isolation_level=None)
    try:
        writer.execute("PRAGMA cache_size=1")  # spill: the journal is written and pages change mid-transaction
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE historical_moves SET close_move_pct = close_move_pct + 1")
        assert Path(f"{sample_copy}-journal").exists()
        with pytest.raises(SourceDataError, match=r"ivcrush.db.*locked"):
            check_raw(sample_copy, today=TODAY)
        with pytest.raises(SourceDataError, match=r"locked"):
            read_source(sample_copy)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert file_digest(sample_copy) == digest
    assert sorted(p.name for p in sample_copy.parent.iterdir()) == [sample_copy.name]


def test_read_only_folder(sample_copy: Path) -> None:
    folder = sample_copy.parent
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    try:
        with _unchanged(sample_copy):  # root ignores the mode: prove instead that nothing was written
            report = check_raw(sample_copy, today=TODAY)
        assert report.errors == []
        assert sorted(p.name for p in folder.iterdir()) == [sample_copy.name]
    finally:
        folder.chmod(mode)


# --- damaged files, odd journals, binary values -----------------------------------------------------------------


def test_page_corrupted_database(sample_copy: Path) -> None:
    data = bytearray(sample_copy.read_bytes())
    page = 4096
    for offset in range(len(data) // 3 // page * page, 2 * len(data) // 3, page):  # the middle third's pages
        data[offset + 8 : offset + page] = os.urandom(page - 8)
    sample_copy.write_bytes(bytes(data))
    with _unchanged(sample_copy), pytest.raises(SourceDataError, match=r"ivcrush.db: cannot be read"):
        read_source(sample_copy)


@pytest.mark.parametrize("value", ["x'00ff41'", "CAST(x'ff41' AS TEXT)"], ids=["blob", "not-utf8"])
def test_binary_ticker(sample_copy: Path, value: str) -> None:
    first = _first_id(sample_copy)
    _damage(sample_copy, f"UPDATE historical_moves SET ticker = {value} WHERE id = {first}")
    _refused(sample_copy, r"historical_moves.ticker: 1 row\(s\) hold binary data")


def test_hot_rollback_journal_of_a_crashed_writer(sample_copy: Path) -> None:
    _damage(sample_copy, "PRAGMA journal_mode=DELETE")
    crash = (
        "import os, sqlite3, sys\n"
        "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "con.execute('PRAGMA cache_size=1')\n"
        "con.execute('BEGIN')\n"
        "con.execute('UPDATE historical_moves SET close_move_pct = close_move_pct + 1')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(sample_copy)], check=True)
    assert Path(f"{sample_copy}-journal").exists()
    with _unchanged(sample_copy), pytest.raises(SourceDataError, match=r"rollback journal ivcrush.db-journal"):
        read_source(sample_copy)


def test_wal_copied_without_its_shm(sample_db: Path, tmp_path: Path) -> None:
    """A WAL holding committed rows, copied without its -shm: read with those rows, nothing created beside it."""
    source = tmp_path / "live" / "ivcrush.db"
    source.parent.mkdir()
    shutil.copy2(sample_db, source)
    con = sqlite3.connect(source, isolation_level=None)
    try:
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("UPDATE historical_moves SET volume_before = 12345")
        target = tmp_path / "copied" / "ivcrush.db"
        target.parent.mkdir()
        shutil.copyfile(source, target)
        shutil.copyfile(f"{source}-wal", f"{target}-wal")
    finally:
        con.close()
    with _unchanged(target):
        snapshot = read_source(target)
        assert set(snapshot.tables["historical_moves"]["volume_before"]) == {12345}
        assert check_raw(target, today=TODAY, snapshot=snapshot).errors == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["ivcrush.db", "ivcrush.db-wal"]


# --- settings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("IVCRUSH_ACCOUNT_EQUITY", "-50000", "a number > 0"),
        ("IVCRUSH_ACCOUNT_EQUITY", "abc", "a number > 0"),
        ("IVCRUSH_ACCOUNT_EQUITY", "inf", "a number > 0"),
        ("IVCRUSH_ACCOUNT_KELLY_FRACTION", "1.5", r"a fraction in \(0, 1\]"),
        ("IVCRUSH_ACCOUNT_MAX_RISK_PER_TRADE", "0", r"a fraction in \(0, 1\]"),
        ("IVCRUSH_ACCOUNT_MAX_CONTRACTS", "nan", "a whole number >= 0"),
        ("IVCRUSH_ACCOUNT_MAX_CONTRACTS", "2.5", "a whole number >= 0"),
        ("IVCRUSH_ONLINE_STORE", "bogus", "one of sqlite, redis"),
        ("IVCRUSH_REDIS_URL", "no-port", r"host:port\[,option=value...\]"),
        ("IVCRUSH_AMC_LABELS_UNTRUSTED", "maybe", "true or false"),
    ],
)
def test_settings_are_checked_at_load(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"setting {variable}: must be {message}, not '{re.escape(value)}'"):
        load_settings(tmp_path)


def test_severity_overrides_are_checked_at_load(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ivcrush.severity]\nno_such_check = "error"\n')
    with pytest.raises(SettingsError, match=r"\[tool.ivcrush.severity\] no_such_check: no such check"):
        load_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.ivcrush.severity]\namc_move_ratio = "fatal"\n')
    with pytest.raises(SettingsError, match="must be 'error' or 'warning'"):
        load_settings(tmp_path)


# --- implied moves from the command line and CSV files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "cannot be read as CSV"),
        ("ticker,implied_move_pct\n", "no rows under its header"),
        ("ticker,implied_move_pct\nVMPT,nan\n", "line 2: no implied_move_pct, and no straddle"),
        ("ticker,implied_move_pct\n,5.1\n", "line 2: ticker missing"),
        ("ticker,implied_move_pct\nNA,5.1\n", "line 2: ticker missing"),
        ("ticker,implied_move_pct\nAAA,inf\n", "line 2: implied_move_pct 'inf' is not a finite number"),
        ("ticker,straddle,spot\nAAA,4.5,0\n", "line 2: straddle 4.5 and spot 0 must both be positive"),
        ("ticker,price\nAAA,1\n", "needs columns ticker and implied_move_pct"),
    ],
)
def test_bad_implied_moves_csv(content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "moves.csv"
    path.write_text(content)
    with pytest.raises(StrategyError, match=re.escape(message)):
        implied_from_csv(path)


def test_unknown_csv_tickers_are_named(tmp_path: Path) -> None:
    path = tmp_path / "moves.csv"
    path.write_text("ticker,implied_move_pct\naaa,5\nZZZ,6\n")
    implied = implied_from_csv(path)
    assert list(implied["ticker"]) == ["AAA", "ZZZ"]
    assert unknown_tickers(implied, {"AAA", "BBB"}) == ["ZZZ"]


@pytest.mark.parametrize(
    ("implied", "straddle", "spot"), [(5.0, None, math.inf), (None, 4.0, math.inf), (None, math.nan, 50.0)]
)
def test_non_finite_prices_on_the_command_line(implied: float | None, straddle: float | None, spot: float) -> None:
    with pytest.raises(StrategyError, match="positive, finite price"):
        implied_from_options(implied, straddle, spot)


# --- evaluation and simulation arguments ---------------------------------------------------------------------


def test_more_folds_than_events_is_refused() -> None:
    times = pd.date_range("2020-01-01", periods=200, freq="7D", tz="UTC")
    dataset = pd.DataFrame(
        {"event_timestamp": times, "outcome_known_at": times + pd.Timedelta(days=1), MOVE_LABEL: 1.0}
    )
    assert len(walk_forward_splits(dataset, folds=4)) == 4
    with pytest.raises(EvaluationError, match=r"1000 folds need at least 10,010 labelled events.*there are 200"):
        walk_forward_splits(dataset, folds=1000)


def test_simulation_dates_are_checked_first() -> None:
    with pytest.raises(BacktestError, match="--from 2025-01-01 is after --to 2024-01-01"):
        check_dates(date(2025, 1, 1), date(2024, 1, 1))


def test_simulation_prices_an_empty_sample() -> None:
    assert _market_excess(np.array([]), np.array([])).shape == (0,)


# --- the command line: workspaces and output paths -----------------------------------------------------------


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, re.sub(r"\s+", " ", result.output)


def test_unusable_workspaces_are_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for workdir, message in ((a_file, "exists and is not a folder"), (Path("/proc/ivcrush"), "cannot be written")):
        code, output = _cli("models", "--workdir", str(workdir))
        assert code == 2 and message in output, output


def test_output_paths_are_checked(tmp_path: Path) -> None:
    code, output = _cli("sample-db", str(tmp_path / "missing" / "s.db"), "--tickers", "2", "--years", "1")
    assert code == 2 and "does not exist" in output, output
    assert not (tmp_path / "missing").exists()
    code, output = _cli("dataset", "--out", str(tmp_path), "--workdir", str(tmp_path / "w"))
    assert code == 2 and "is a folder" in output, output
    code, output = _cli("predict", "AAA", "--preset", "bogus", "--workdir", str(tmp_path / "w"))
    assert code == 2 and "bogus" in output, output


# --- write-back -------------------------------------------------------------------------------------------


def _recommendation(ticker: str, earnings_date: str, mean: float) -> SimpleNamespace:
    """What write_back_recommendations reads of a recommendation: its event, its decision's mean, confidence."""
    return SimpleNamespace(
        ticker=ticker,
        earnings_date=earnings_date,
        decision=SimpleNamespace(forecast_mean_pct=mean),
        forecast={"point": 99.0, "mean": 98.0, "confidence": 0.7},
    )


def _scanned_event(db: Path) -> tuple[str, str]:
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as con:
        return con.execute("SELECT ticker, earnings_date FROM iv_log ORDER BY id LIMIT 1").fetchone()


def test_write_back_writes_the_mean_its_decision_used(sample_copy: Path, tmp_path: Path) -> None:
    sample_copy.chmod(0o640)
    ticker, day = _scanned_event(sample_copy)
    fingerprint = read_source(sample_copy).fingerprint
    backups = tmp_path / "backups"
    for _ in range(BACKUPS_KEPT + 2):
        done = write_back_recommendations(sample_copy, [_recommendation(ticker, day, 4.25)], backups, fingerprint)
    assert done.rows_updated >= 1 and done.backups_removed == 1
    with sqlite3.connect(f"file:{sample_copy}?mode=ro&immutable=1", uri=True) as con:
        written = con.execute(
            "SELECT DISTINCT ml_predicted_move_pct, ml_confidence FROM iv_log WHERE ticker = ? AND earnings_date = ?",
            (ticker, day),
        ).fetchall()
    assert written == [(4.25, 0.7)], "the decision's mean, not the model's (98) where the decision fell back"
    kept = sorted(backups.glob("ivcrush-*.db"))
    assert len(kept) == BACKUPS_KEPT and done.backup == kept[-1]
    assert {stat.S_IMODE(p.stat().st_mode) for p in kept} == {0o640}
    assert sorted(p.name for p in sample_copy.parent.iterdir()) == ["ivcrush.db"]


def test_write_back_refuses_another_database(sample_copy: Path, tmp_path: Path) -> None:
    ticker, day = _scanned_event(sample_copy)
    fingerprint = read_source(sample_copy).fingerprint
    _damage(sample_copy, f"DELETE FROM historical_moves WHERE id = {_first_id(sample_copy)}")
    with (
        _unchanged(sample_copy),
        pytest.raises(WriteBackError, match=r"does not hold the data the served build was made from.*nothing was"),
    ):
        write_back(sample_copy, [(ticker, day, 5.0, 0.5)], tmp_path / "backups", fingerprint)
    assert not list((tmp_path / "backups").glob("ivcrush-*.db"))


def test_write_back_refuses_a_locked_database_and_a_journal(
    sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _damage(sample_copy, "PRAGMA journal_mode=DELETE")
    ticker, day = _scanned_event(sample_copy)
    fingerprint = read_source(sample_copy).fingerprint
    monkeypatch.setattr(ivcrush.serving.writeback, "BUSY_TIMEOUT_S", 0.2)
    digest = file_digest(sample_copy)
    holder = sqlite3.connect(sample_copy, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock (no journal written yet)
        with pytest.raises(WriteBackError, match=r"locked by another process.*nothing was written"):
            write_back(sample_copy, [(ticker, day, 5.0, 0.5)], tmp_path / "backups", fingerprint)
        holder.execute("PRAGMA cache_size=1")
        holder.execute("UPDATE historical_moves SET close_move_pct = close_move_pct + 1")
        assert Path(f"{sample_copy}-journal").exists()
        with pytest.raises(WriteBackError, match=r"rollback journal ivcrush.db-journal.*nothing was written"):
            write_back(sample_copy, [(ticker, day, 5.0, 0.5)], tmp_path / "backups", fingerprint)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert file_digest(sample_copy) == digest
    assert sorted(p.name for p in sample_copy.parent.iterdir()) == ["ivcrush.db"]
    assert not list((tmp_path / "backups").glob("ivcrush-*.db"))


def test_the_workspace_is_private_by_default(sample_db: Path, tmp_path: Path) -> None:
    """Files the commands write into the workspace are 0600, its folders 0700 (the warehouse and backups copy
    the trade journal)."""
    work = tmp_path / "work"
    done = subprocess.run(
        [sys.executable, "-m", "ivcrush.cli", "validate", "--db", str(sample_db), "--workdir", str(work)],
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    modes = {p.relative_to(work): stat.S_IMODE(p.stat().st_mode) for p in [work, *work.rglob("*")]}
    assert {mode for path, mode in modes.items() if (work / path).is_dir()} == {0o700}, modes
    assert {mode for path, mode in modes.items() if (work / path).is_file()} == {0o600}, modes

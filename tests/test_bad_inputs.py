"""The bad-input matrix: each damaged database is refused with a message naming where, and is never changed."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

import ivcrush.source.reader
from ivcrush.quality.raw import check_raw
from ivcrush.quality.report import QualityReport
from ivcrush.source.reader import SourceDataError, read_source
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

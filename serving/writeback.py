"""The one write into the user's 2.0 database, on request only: `iv_log.ml_predicted_move_pct` and
`iv_log.ml_confidence` of the scanned events, in one transaction, after a backup copy of the file.

The write lock is taken first; under it the database must still hold the data the served build was made
from (its fingerprint), the backup is copied and the rows are updated, so nothing can change in between.
Every refusal says what was and was not done; a failed attempt leaves no file beside the database.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ivcrush.errors import IvcrushError
from ivcrush.source.reader import BUSY_TIMEOUT_S, SourceDataError, companion, fingerprint, tables_of

if TYPE_CHECKING:
    from ivcrush.serving.predict import Recommendation

BACKUPS_KEPT = 5
BACKUP_PATTERN = "ivcrush-*.db"
PARTIAL_PATTERN = ".ivcrush-*.db.partial"


class WriteBackError(IvcrushError):
    """The write-back did not happen; the message says what was and was not done."""


@dataclass(frozen=True)
class WriteBack:
    backup: Path
    rows_updated: int
    events_written: int
    events_without_scan: list[str]
    backups_removed: int = 0


def _backup(db_path: Path, backup_dir: Path) -> Path:
    """A consistent copy (SQLite's backup API) with the database's permissions, never wider meanwhile; written
    under a partial name and renamed when complete, so that a killed attempt leaves no backup that counts."""
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for partial in backup_dir.glob(PARTIAL_PATTERN):  # of killed attempts: the caller holds the write lock
        partial.unlink(missing_ok=True)
    backup = backup_dir / f"ivcrush-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.db"
    partial = backup.with_name(f".{backup.name}.partial")
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        source = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S)  # reads while the caller holds the write lock
        try:
            with sqlite3.connect(partial) as target:
                source.backup(target)
            target.close()
        finally:
            source.close()
        os.chmod(partial, stat.S_IMODE(db_path.stat().st_mode))
        os.replace(partial, backup)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return backup


def _prune_backups(backup_dir: Path, keep: Path) -> int:
    """Remove all but the newest BACKUPS_KEPT backups (never `keep`); the number removed."""
    backups = sorted(backup_dir.glob(BACKUP_PATTERN))
    removed = 0
    for old in backups[:-BACKUPS_KEPT]:
        if old != keep:
            old.unlink(missing_ok=True)
            removed += 1
    return removed


def write_back(
    db_path: Path, predictions: list[tuple[str, str, float, float]], backup_dir: Path, source_fingerprint: str
) -> WriteBack:
    """Fill the ML columns of iv_log for (ticker, earnings_date, predicted_move_pct, confidence) rows.

    Refused (nothing written, no backup kept) where another process holds the database, a rollback journal
    lies beside it, or its content is not that of `source_fingerprint` (the served build's source). Else a
    backup is made and the updates run in one IMMEDIATE transaction that touches only those two columns of
    the matching rows (events without an iv_log row are reported, not written).
    """
    db_path = Path(db_path)
    nothing = f"nothing was written to {db_path} and no backup was kept"
    if not db_path.is_file():
        raise WriteBackError(f"database {db_path}: no such file; {nothing}")
    journal = companion(db_path, "-journal")
    if journal.exists():
        raise WriteBackError(
            f"database {db_path}: the rollback journal {journal.name} lies beside it (a writer is active, or stopped "
            f"in the middle of a transaction); {nothing}; let 2.0 finish (or open the database once with 2.0 or "
            "sqlite3 so that SQLite rolls a stopped transaction back), then try again"
        )
    try:
        con = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise WriteBackError(f"database {db_path}: cannot be opened for writing ({exc}); {nothing}") from exc
    backup: Path | None = None
    try:
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise WriteBackError(
                f"database {db_path}: locked by another process for more than {BUSY_TIMEOUT_S:.0f} s ({exc}); "
                f"{nothing}; try again when the writer has finished"
            ) from exc
        try:
            tables, _ = tables_of(con, db_path)
        except SourceDataError as exc:
            raise WriteBackError(f"{exc}; {nothing}") from exc
        found = fingerprint(tables)
        if found != source_fingerprint:
            raise WriteBackError(
                f"database {db_path} does not hold the data the served build was made from (fingerprint {found}, "
                f"the build's source {source_fingerprint}); {nothing}; write back into the database the build "
                "read (--db), or build and materialize from this one first"
            )
        backup = _backup(db_path, backup_dir)
        updated, written, without = 0, 0, []
        for ticker, earnings_date, predicted, confidence in predictions:
            cursor = con.execute(
                "UPDATE iv_log SET ml_predicted_move_pct = ?, ml_confidence = ? WHERE ticker = ? AND earnings_date = ?",
                (float(predicted), float(confidence), ticker, earnings_date),
            )
            if cursor.rowcount == 0:
                without.append(f"{ticker} {earnings_date}")
            else:
                written += 1
            updated += cursor.rowcount
        con.execute("COMMIT")
    except BaseException as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        if backup is not None:
            backup.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.Error | OSError):
            raise WriteBackError(f"database {db_path}: write-back failed ({exc}); {nothing}") from exc
        raise
    finally:
        con.close()  # the last connection: SQLite removes the -wal/-shm it created
    return WriteBack(
        backup=backup,
        rows_updated=updated,
        events_written=written,
        events_without_scan=without,
        backups_removed=_prune_backups(backup_dir, backup),
    )


def write_back_recommendations(
    source_db: Path, recommendations: list[Recommendation], backups_dir: Path, source_fingerprint: str
) -> WriteBack:
    """Write into each recommendation's iv_log rows the mean |move| its decision used (what 2.0 divides the
    implied move by: the model's, or 2.0's own where the decision fell back to it) and the forecast's
    confidence (`write_back`)."""
    rows = [
        (r.ticker, r.earnings_date, float(r.decision.forecast_mean_pct), float(r.forecast["confidence"]))
        for r in recommendations
    ]
    return write_back(source_db, rows, backups_dir, source_fingerprint)

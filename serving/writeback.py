"""The one write into the user's 2.0 database, on request only: `iv_log.ml_predicted_move_pct` and
`iv_log.ml_confidence` of the scanned events, in one transaction, after a backup copy of the file."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ivcrush.errors import IvcrushError
from ivcrush.source.reader import BUSY_TIMEOUT_S, connect_readonly

if TYPE_CHECKING:
    from ivcrush.serving.predict import Recommendation


class WriteBackError(IvcrushError):
    """The write-back did not happen; the database is unchanged."""


@dataclass(frozen=True)
class WriteBack:
    backup: Path
    rows_updated: int
    events_written: int
    events_without_scan: list[str]


def write_back(db_path: Path, predictions: list[tuple[str, str, float, float]], backup_dir: Path) -> WriteBack:
    """Fill the ML columns of iv_log for (ticker, earnings_date, predicted_move_pct, confidence) rows.

    A consistent backup copy (SQLite's backup API) is written first; the updates run in one IMMEDIATE
    transaction that touches only those two columns of the matching rows (events without an iv_log row are
    reported, not written).
    """
    backup_dir.mkdir(parents=True, exist_ok=True)
    backup = backup_dir / f"ivcrush-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.db"
    source = connect_readonly(db_path, immutable=False)
    try:
        with sqlite3.connect(backup) as target:
            source.backup(target)
    finally:
        source.close()
    con = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
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
        if isinstance(exc, sqlite3.OperationalError):
            raise WriteBackError(f"database {db_path}: write-back failed, nothing was written ({exc})") from exc
        raise
    finally:
        con.close()
    return WriteBack(backup=backup, rows_updated=updated, events_written=written, events_without_scan=without)


def write_back_recommendations(source_db: Path, recommendations: list[Recommendation], backups_dir: Path) -> WriteBack:
    """Write each recommendation's forecast mean |move| (what 2.0 divides the implied move by, as by its own
    historical mean) and confidence into its event's iv_log rows (`write_back`)."""
    rows = [
        (r.ticker, r.earnings_date, float(r.forecast["mean"]), float(r.forecast["confidence"])) for r in recommendations
    ]
    return write_back(source_db, rows, backups_dir)

"""Fault injection: concurrent writers, a Redis that never answers, disk full, and signals at seeded random
points of build, materialize, train and write-back. After each fault the user's bytes are unchanged, the
previous publication is served, no process is left behind and no half-made folder counts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivcrush.source.reader import read_source
from ivcrush.source.sample import write_sample_db

READS = 200
WRITER = """
import sqlite3, sys, time
db, mode = sys.argv[1], sys.argv[2]
value = 0
while True:
    value += 1
    con = sqlite3.connect(db, timeout=30, isolation_level=None)  # a fresh connection per transaction
    con.execute("PRAGMA cache_size=1")  # pages spill into the file before the commit (rollback journal)
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE historical_moves SET volume_before = ?", (value,))
    con.execute("UPDATE earnings_calendar SET confirmed = ?", (value,))
    con.execute("COMMIT")
    con.close()
    if value == 1:
        print("writing", flush=True)
    time.sleep(0.002)
"""


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_reads_under_a_busy_writer_are_consistent(journal_mode: str, tmp_path: Path) -> None:
    """Hundreds of reads while another process rewrites two tables in each transaction: every read sees one
    transaction's state in both tables, and nothing is left beside the database by the reads."""
    db = tmp_path / "user" / "ivcrush.db"
    db.parent.mkdir()
    write_sample_db(db, tickers=4, years=3, seed=5)
    import sqlite3

    with sqlite3.connect(db, isolation_level=None) as con:
        con.execute(f"PRAGMA journal_mode={journal_mode}")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), journal_mode], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        seen, inconsistent = set(), []
        started = time.monotonic()
        for _ in range(READS):
            tables = read_source(db).tables
            values = set(tables["historical_moves"]["volume_before"]) | set(tables["earnings_calendar"]["confirmed"])
            if len(values) != 1:
                inconsistent.append(sorted(values)[:5])
            seen |= values
        elapsed = time.monotonic() - started
    finally:
        writer.kill()
        writer.wait()
    assert inconsistent == [], f"{len(inconsistent)} of {READS} reads mixed transactions, e.g. {inconsistent[:3]}"
    assert len(seen) > READS // 4, f"the writer committed too rarely to test anything ({len(seen)} values seen)"
    print(f"{journal_mode}: {READS} consistent reads of {len(seen)} distinct commits in {elapsed:.1f} s")

"""Worker processes: stopped with SIGKILL after their result, they leave nothing for the resource tracker."""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PARENT = """
from ivcrush import workers
from tests.test_workers import progress_bar_worker

if __name__ == "__main__":
    process, conn = workers.start(progress_bar_worker, (), "ivcrush-test")
    assert workers.receive(process, conn, "test") == "done"
    workers.stop(process, conn)  # no grace: killed like the build's quality worker
"""


def progress_bar_worker(conn: Connection, parent_pid: int) -> None:
    """What the quality worker does in Great Expectations: a tqdm progress bar; then its result, then wait."""
    from tqdm import tqdm

    from ivcrush import workers

    workers.die_with_parent(parent_pid)
    with open(os.devnull, "w") as sink:
        for _ in tqdm(range(3), file=sink):
            pass
    conn.send("done")
    conn.recv()  # killed here


def test_a_killed_worker_leaks_no_semaphore(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "leaked" not in done.stderr

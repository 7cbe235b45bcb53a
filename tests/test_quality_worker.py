"""The build's data-quality process: at the build's priority, without the imports its suites never use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ivcrush.build import QualityWorker
from ivcrush.source.reader import read_source

REPO = Path(__file__).resolve().parents[1]

IMPORT_GX = """
import sys
from ivcrush.quality.gx import defer_unused_imports, import_gx

defer_unused_imports()
import_gx()
assert "scipy.stats._stats_py" not in sys.modules, "scipy.stats was run by importing Great Expectations"
from scipy import stats

assert abs(stats.entropy([0.5, 0.5], [0.25, 0.75]) - 0.1438410362258904) < 1e-12  # runs in full at first use
assert "scipy.stats._stats_py" in sys.modules
"""


def test_great_expectations_imports_without_running_scipy_stats() -> None:
    """Only GE's KL-divergence expectation (none of ours) uses scipy.stats: deferred, its import costs nothing,
    and it still works when used."""
    done = subprocess.run([sys.executable, "-c", IMPORT_GX], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_quality_process_runs_at_the_builds_priority(sample_db: Path, tmp_path: Path) -> None:
    """It is the build's critical path (more CPU seconds than dbt's, and the build waits for its last report):
    it does not yield the CPU to dbt or to anything else the build's priority would not."""
    worker = QualityWorker(read_source(sample_db), None, tmp_path / "build")
    try:
        assert worker.raw_report().passed
        assert os.getpriority(os.PRIO_PROCESS, worker._process.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        worker.close()

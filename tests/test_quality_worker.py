"""The build's data-quality process: at the build's priority, without the imports its suites never use, each
expectation's configuration built once while it is validated."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pandas as pd

from ivcrush.build import QualityWorker
from ivcrush.quality.gx import configurations_built_once, import_gx
from ivcrush.quality.marts import check_marts
from ivcrush.settings import Settings
from ivcrush.source.reader import read_source
from ivcrush.workspace import mart_path

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


def test_an_expectations_configuration_is_built_once_while_validating() -> None:
    """GE reads an expectation's configuration ~85 times while validating it: built once, again only where a
    field was set anew; outside the block, built at each read as GE does."""
    expectation = import_gx().expectations.ExpectColumnValuesToBeBetween(column="x", min_value=0, max_value=1)
    assert expectation.configuration is not expectation.configuration
    with configurations_built_once():
        first = expectation.configuration
        assert expectation.configuration is first
        expectation.meta = {"check": "rate_range"}
        assert expectation.configuration is not first
        assert expectation.configuration.meta == {"check": "rate_range"}
    assert expectation.configuration is not expectation.configuration


def test_marts_checks_are_the_same_with_configurations_built_once(built_sample: Settings, tmp_path: Path) -> None:
    """The same results, failures included, as with GE's own configuration at each read (a broken mart)."""
    build_dir = tmp_path / "build"
    shutil.copytree(built_sample.current_build.resolve(), build_dir)
    events = mart_path(build_dir, "earnings_events")
    frame = pd.read_parquet(events)
    pd.concat([frame, frame.head(3)]).to_parquet(events)  # 3 duplicate events
    cached = check_marts(build_dir).checks
    with patch("ivcrush.quality.gx.configurations_built_once", contextlib.nullcontext):
        plain = check_marts(build_dir).checks
    assert cached == plain
    assert any(not c.success for c in cached)

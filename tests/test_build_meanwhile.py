"""The build's `meanwhile` (the main job imports its next stages): run while dbt builds, waited for, its
failure the build's."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from ivcrush import workers
from ivcrush.build import build
from ivcrush.quality.report import QualityReport
from ivcrush.settings import Settings
from ivcrush.workspace import current_build


def test_meanwhile_starts_with_dbt_and_is_waited_for(sample_copy: Path, tmp_path: Path) -> None:
    """It starts before dbt is done (it fills the CPU the build's processes leave idle, not the end of the
    build), and the build returns only once it has ended."""
    events: list[str] = []
    marts_checked = threading.Event()

    def on_quality(report: QualityReport) -> None:
        events.append("quality report")
        if any(check.suite == "marts" for check in report.checks):
            marts_checked.set()

    def meanwhile() -> None:
        events.append("meanwhile started")
        marts_checked.wait(timeout=120)  # (run after the raw tables' report, it would wait here in vain)
        time.sleep(0.3)  # still running when the marts' report is in
        events.append("meanwhile done")

    result = build(Settings(workdir=tmp_path / "work", db=sample_copy), on_quality=on_quality, meanwhile=meanwhile)
    assert events == ["meanwhile started", "quality report", "quality report", "meanwhile done"]
    assert "meanwhile_wait" in result.seconds


def test_a_failing_meanwhile_fails_the_build_and_publishes_nothing(sample_copy: Path, tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "work", db=sample_copy)

    def meanwhile() -> None:
        raise ImportError("no module named next_stage")

    with pytest.raises(ImportError, match="next_stage"):
        build(settings, meanwhile=meanwhile)
    assert current_build(settings) is None
    assert list(settings.builds_dir.iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_meanwhile_runs_at_the_lowest_priority_and_the_build_does_not(sample_copy: Path, tmp_path: Path) -> None:
    """Only the meanwhile thread is niced (to 19): the build's own thread, and so the processes it starts
    afterwards, keep their priority (measured: the new-day main job's build 7.6 -> 6.7 s on this machine)."""
    seen: dict[str, int] = {}

    def meanwhile() -> None:
        seen["meanwhile"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    build(Settings(workdir=tmp_path / "work", db=sample_copy), meanwhile=meanwhile)
    assert seen["meanwhile"] == workers.LOWEST_NICE
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    assert os.getpriority(os.PRIO_PROCESS, 0) == before

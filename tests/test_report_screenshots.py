"""Every report page rendered in headless Chromium (.ci/screenshots.py): a PNG, no page wider than the window, no
table that needs a scroll bar at 1400 px, every figure decoded from the page itself."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ivcrush.quality.docs import write_report as write_quality_report
from ivcrush.quality.report import QualityReport
from ivcrush.serving.predict import Refusal
from ivcrush.serving.run_index import write_run_index
from ivcrush.settings import Settings
from ivcrush.training.report import write_report
from ivcrush.training.skill import compute_metrics
from tests.test_report_evaluation import evaluated_rows
from tests.test_report_quality import check
from tests.test_report_run_index import _recommendation, _workspace

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "screenshots.py"
pytestmark = pytest.mark.skipif(
    not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")),
    reason="no chromium on PATH (Debian package `chromium`, ~300 MB, not installed by .ci/run); "
    "render the pages by hand with .ci/screenshots.py where it is",
)


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def test_every_report_page_renders_within_the_window(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    generation = _workspace(workdir)
    rows = evaluated_rows()
    metrics = compute_metrics(rows, resamples=200)
    metrics["setup"] = {"mode": "walk-forward, 2 folds (expanding)", "folds": [], "notes": {}}
    evaluation = write_report(workdir / "evaluations" / "e1", rows, metrics, pd.Series({"hm_intraday_last": 1.0}))
    metrics["out_dir"] = str(evaluation.parent)
    quality = QualityReport(
        [
            check("prices_positive", "raw_tables"),
            check(
                "amc_move_ratio",
                "raw_distribution",
                False,
                "warning",
                ["ticker=AMAT, earnings_date=2025-05-15, close_move_pct=0.35"] * 5,
            ),
        ]
    )
    write_quality_report(quality, workdir / "validation" / "v1")
    index = write_run_index(
        Settings(workdir=workdir),
        generation,
        metrics,
        model_id="m1",
        scan_date=date(2025, 12, 9),
        recommendations=[_recommendation()],
        refusals=[Refusal("STZ", "implied move missing")],
    )
    pages = [evaluation, workdir / "validation" / "v1" / "summary.html", index]
    out = tmp_path / "shots"
    command = [sys.executable, str(SCRIPT), "--out", str(out), "--json", *(f"--page={page}" for page in pages)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 3
    for name, result in results.items():
        assert _png_size(Path(result["png"])) == (1400, 2600), name
        assert result["page_width"] <= result["window_width"], name
        assert result["overflowing_tables"] == [] and result["broken_images"] == [], name
    assert [r["images"] for r in results.values()] == [7, 0, 2]
    assert not list(out.glob(".*probe*")), "the probe copies are removed"

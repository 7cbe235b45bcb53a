"""A run's index.html: self-contained, the build's quality with working links, the evaluation's headline, the
scan's table."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import date
from pathlib import Path

from ivcrush.serving.market import MarketInputs
from ivcrush.serving.predict import Recommendation, Refusal
from ivcrush.serving.run_index import write_run_index
from ivcrush.serving.strategy import decide
from ivcrush.settings import Account, Costs, Settings
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.skill import compute_metrics
from ivcrush.workspace import BUILD_MANIFEST, BuildResult, Generation
from tests.test_report_evaluation import evaluated_rows


def _workspace(workdir: Path) -> Generation:
    """A build with its quality report (summary, JSON, Data Docs) and the generation made from it."""
    build_dir = workdir / "builds" / "b1"
    quality = build_dir / "quality"
    for site in ("raw", "marts"):
        (quality / "data_docs" / site).mkdir(parents=True)
        (quality / "data_docs" / site / "index.html").write_text("<p>docs</p>")
    (quality / "summary.html").write_text("<p>summary</p>")
    docs = {site: str(quality / "data_docs" / site / "index.html") for site in ("raw", "marts")}
    (quality / "result.json").write_text(json.dumps({"data_docs": docs}))
    build = BuildResult(
        "b1", str(build_dir), "/data/ivcrush.db", "f00d", True, "now", {}, {}, 0, ["amc_move_ratio: <odd>"]
    )
    (build_dir / BUILD_MANIFEST).write_text(json.dumps(asdict(build)))
    return Generation("g1", "p", "b1", str(build_dir), "earnings_move_v1", "2025-12-09", "x", "sqlite", 411, "now")


def _recommendation() -> Recommendation:
    distribution = MoveDistribution([[0.9, 1.8, 3.0, 4.8, 6.9]])
    decision = decide(
        distribution,
        market=MarketInputs(spot=100.0, implied_total_pct=8.0),
        prob_up=None,
        account=Account(),
        costs=Costs(),
        hist_mean_2_0_pct=4.0,
    )
    quantiles = {"0.1": 0.9, "0.25": 1.8, "0.5": 3.0, "0.75": 4.8, "0.9": 6.9}
    forecast = {"quantiles": quantiles, "tail_shape": 0.1, "tail_scale": 0.4, "mean": 3.3}
    forecast |= {"basis": "model", "market_features_stale": False}
    return Recommendation(
        "ASO", "ASO:2025-12-09", "2025-12-09", "BMO", "iv_log", "iv_log", "model", forecast, decision, distribution
    )


def test_the_run_index_links_the_quality_pages_and_shows_evaluation_and_scan(tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path)
    generation = _workspace(tmp_path)
    metrics = compute_metrics(evaluated_rows(), resamples=200)
    metrics["out_dir"] = str(tmp_path / "evaluations" / "e1")
    path = write_run_index(
        settings,
        generation,
        metrics,
        model_id="m1",
        scan_date=date(2025, 12, 9),
        recommendations=[_recommendation()],
        refusals=[Refusal("STZ", "implied move missing"), Refusal("CPB", "implied move missing")],
        run_id="r1",
    )
    assert path == tmp_path / "reports" / "r1" / "index.html"
    page = path.read_text()
    links = re.findall(r'<a href="([^"#]+)', page)
    targets = [(path.parent / link).resolve() for link in links if "evaluations" not in link]
    assert {t.relative_to(tmp_path).as_posix() for t in targets} == {
        "builds/b1/quality/summary.html",
        "builds/b1/quality/data_docs/raw/index.html",
        "builds/b1/quality/data_docs/marts/index.html",
    }
    assert all(t.is_file() for t in targets), "every quality link opens from where the index is"
    assert 'href="../../evaluations/e1/report.html"' in page
    assert "summary.html#raw_tables" in page and "summary.html#marts" in page
    assert "0 error(s), 1 warning(s)" in page and "amc_move_ratio: &lt;odd&gt;" in page
    assert "pinball: ahead, significant" in page
    assert '<td class="text">ASO</td>' in page and "not served: STZ, CPB: implied move missing" in page
    assert "Scan of 2025-12-09, ranked" in page and "m1, registered in" in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 2 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script" not in page and "<link" not in page


def test_a_run_without_evaluation_or_scan_date_still_gets_an_index(tmp_path: Path) -> None:
    generation = _workspace(tmp_path)
    page = write_run_index(Settings(workdir=tmp_path), generation).read_text()
    assert "No earnings date was scanned." in page and "Walk-forward evaluation" not in page

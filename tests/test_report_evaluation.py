"""The evaluation's report page: self-contained, every section and figure, the gate per target in words."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.training.report import FIGURES, headline_figures, write_report
from ivcrush.training.report_tables import headline, verdict_words
from ivcrush.training.skill import compute_metrics
from tests.evaluation_rows import pooled_rows


def evaluated_rows(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """Pooled out-of-sample rows as `evaluate_frame` makes them: a model that knows each event's scale, baselines
    that do not."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(1.0, 4.0, n)
    actual = rng.gamma(2.0, 1.0, n) * scale
    model = {
        name: np.quantile(rng.gamma(2.0, 1.0, 5000), level) * scale
        for name, level in zip(QUANTILE_NAMES, QUANTILE_LEVELS, strict=True)
    }
    flat = {name: np.quantile(actual, level) for name, level in zip(QUANTILE_NAMES, QUANTILE_LEVELS, strict=True)}
    return pooled_rows(
        actual,
        rng,
        model,
        flat,
        label_trusted=np.arange(n) % 5 != 0,
        timing=np.where(np.arange(n) % 3 == 0, "DMH", "BMO"),
    )


@pytest.fixture(scope="module")
def evaluation() -> tuple[pd.DataFrame, dict, pd.Series]:
    rows = evaluated_rows()
    metrics = compute_metrics(rows, resamples=200, notes={"iv_crush": "not trained: only 0 past events"})
    metrics["setup"] = {"mode": "walk-forward, 2 folds (expanding)", "folds": [], "notes": {}}
    metrics["dataset"] = {"build_id": "b1", "rows": len(rows)}
    importance = pd.Series(
        np.linspace(60, 1, 40),
        index=[f"a_feature_with_a_rather_long_name_{i}" for i in range(39)] + ["hm_close_mean_12q_all_rows"],
    )
    return rows, metrics, importance


def test_the_page_is_self_contained_with_every_section_and_figure(evaluation, tmp_path: Path) -> None:
    rows, metrics, importance = evaluation
    path = write_report(tmp_path / "eval", rows, metrics, importance)
    page = path.read_text()
    assert path == tmp_path / "eval" / "report.html"
    for heading in (
        "In plain words",
        "Skill gate",
        "Calibration and tail",
        "Move size on trusted labels",
        "Figures",
        "Set-up",
    ):
        assert heading in page, heading
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == len(FIGURES) + 1, "every figure, the feature importance among them"
    assert all(src.startswith("data:image/png;base64,") for src in images), "no figure is a file beside the page"
    assert all(base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG" for src in images)
    assert "<link" not in page and "<script" not in page and 'src="http' not in page
    for name, _ in FIGURES.values():  # the same figures beside it, for slides
        assert (tmp_path / "eval" / name).read_bytes()[:4] == b"\x89PNG"
    # the calibration and tail tables: per fold, pooled, by prior trusted history, by timing
    for group in ("pooled", "fold 0", "fold 1", "prior trusted 0", "prior trusted 6+", "timing BMO", "timing DMH"):
        assert f"<td>{group}</td>" in page, group
    assert "P(&gt;1.5 q90) pred / obs" in page and "UNTRUSTED labels" in page


def test_the_gate_says_per_target_which_held(evaluation, tmp_path: Path) -> None:
    rows, metrics, importance = evaluation
    page = write_report(tmp_path, rows, metrics, importance).read_text()
    targets = metrics["trusted"]["gate"]["targets"]
    words = {name: verdict_words(v)[0] for name, v in targets.items()}
    assert words["pinball"] == "ahead, significant", "the model knows each event's scale; the baseline does not"
    for name, said in words.items():
        assert f"{name}: {said}" in page
    line = next(line for line in headline(metrics) if line.startswith("Move size"))
    assert "; ".join(f"{name}: {said}" for name, said in words.items()) in line
    assert "serving uses the model's calibrated quantiles" in line


def test_verdict_words() -> None:
    assert verdict_words({"skill": True, "gain": 0.1}) == ("ahead, significant", "good")
    assert verdict_words({"skill": False, "gain": 0.1}) == ("ahead, not significant", "warn")
    assert verdict_words({"skill": False, "gain": -0.1}) == ("behind", "bad")


def test_a_metrics_dict_without_the_newer_keys_still_gets_a_page(evaluation, tmp_path: Path) -> None:
    rows, metrics, importance = evaluation
    trusted = {k: v for k, v in metrics["trusted"].items() if k not in ("forecast", "gate", "by_history")}
    bare = {"trusted": trusted, "untrusted": metrics["untrusted"], "summary": ["one sentence"]}
    page = write_report(tmp_path, rows, bare, importance).read_text()
    assert "one sentence" in page and "the gate could not be run" in page


def test_headline_figures_come_from_the_metrics_alone(evaluation) -> None:
    figures = headline_figures(evaluation[1])
    assert [caption.split(",")[0] for caption, _ in figures] == [
        "80% interval coverage by fold",
        "PIT histogram of the move distribution (uniform when calibrated)",
    ]
    assert all(uri.startswith("data:image/png;base64,") for _, uri in figures)

"""Models: deterministic training, non-crossing quantiles, P(|move| > x), leakage check, registry round trip."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ivcrush.training
from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.feature_repo.feature_services import MODEL_FEATURE_COLUMNS
from ivcrush.feature_repo.materialize import materialize
from ivcrush.settings import Settings
from ivcrush.training.data import training_set
from ivcrush.training.predict import confidence, ensemble, exceedance_function, predict_frame, prob_move_exceeds
from ivcrush.training.registry import RegistryError, list_models, load_latest, register
from ivcrush.training.release import train_and_register
from ivcrush.training.skill import compute_metrics
from ivcrush.training.train import LeakageError, train_models
from ivcrush.workspace import BUILD_MANIFEST, published

ROUNDS = 40


@pytest.fixture(scope="module")
def published_sample(built_sample: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    target = tmp_path_factory.mktemp("models") / "work"
    shutil.copytree(built_sample.workdir, target, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    settings = replace(built_sample, workdir=target)
    materialize(settings, date(2025, 7, 1))
    return settings


@pytest.fixture(scope="module")
def dataset(published_sample: Settings) -> pd.DataFrame:
    return training_set(published_sample)


def test_training_is_deterministic(dataset: pd.DataFrame) -> None:
    first = train_models(dataset, num_boost_round=ROUNDS)
    second = train_models(dataset, num_boost_round=ROUNDS)
    assert set(first.boosters) == {*QUANTILE_NAMES, "direction"}
    for name, booster in first.boosters.items():
        assert booster.model_to_string() == second.boosters[name].model_to_string(), name
    assert first.notes["iv_crush"].startswith("not trained: only ")


def test_quantiles_do_not_cross_and_point_is_the_median(dataset: pd.DataFrame) -> None:
    models = train_models(dataset, num_boost_round=ROUNDS)
    predictions = predict_frame(models, dataset)
    q = predictions[list(QUANTILE_NAMES)].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all()
    assert (predictions["point"] == predictions["q50"]).all()
    assert predictions["confidence"].between(0, 1).all()
    assert predictions["p_up"].between(0, 1).all()
    assert predictions["iv_crush_ratio"].isna().all(), "IV crush is not trained on the sample"


def test_prob_move_exceeds_is_a_distribution_consistent_with_the_quantiles() -> None:
    quantiles = {0.1: 0.8, 0.25: 1.7, 0.5: 3.1, 0.75: 5.0, 0.9: 8.0}
    xs = np.linspace(0, 60, 601)
    p = prob_move_exceeds(quantiles, xs)
    assert p[0] == 1.0 and prob_move_exceeds(quantiles, 0.0) == 1.0
    assert (np.diff(p) <= 0).all(), "monotone decreasing"
    assert p[-1] < 1e-6, "-> 0 far out"
    for level, value in quantiles.items():
        assert prob_move_exceeds(quantiles, value) == pytest.approx(1 - level)
    assert prob_move_exceeds(quantiles, 3.1) == pytest.approx(0.5)
    exceeds = exceedance_function([0.8, 1.7, 3.1, 5.0, 8.0])
    assert exceeds(10.0) == pytest.approx(float(prob_move_exceeds(quantiles, 10.0)))
    # continuous at q90 and crossing quantiles are sorted, one probability per row
    assert prob_move_exceeds(quantiles, 8.0 + 1e-9) == pytest.approx(0.1, abs=1e-6)
    rows = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [2, 2, 2, 2, 2]], dtype=float)
    assert prob_move_exceeds(rows, 3.0) == pytest.approx([0.5, 0.5, 0.1 * np.exp(-1e9)])
    assert confidence(1.0, 4.0, 9.0) == pytest.approx(1 / (1 + 2))


def test_a_feature_that_looks_like_the_label_is_refused(dataset: pd.DataFrame) -> None:
    leaky = dataset.copy()
    noise = np.random.default_rng(0).normal(0, 0.2, len(leaky))
    leaky["peek"] = leaky["abs_close_move_pct"] + noise
    with pytest.raises(LeakageError, match="feature peek looks like the label abs_close_move_pct"):
        train_models(leaky, features=[*MODEL_FEATURE_COLUMNS, "peek"], num_boost_round=ROUNDS)
    with pytest.raises(LeakageError, match="is a label column"):
        train_models(leaky, features=[*MODEL_FEATURE_COLUMNS, "moved_up"], num_boost_round=ROUNDS)


def test_registry_round_trip_without_pickle(dataset: pd.DataFrame, tmp_path: Path) -> None:
    models = train_models(dataset, num_boost_round=ROUNDS)
    verdicts = {"direction": {"skill": False, "sentence": "no skill"}, "move_size": {"skill": True}}
    model_id = register(
        tmp_path,
        models,
        feature_service="earnings_move_v1",
        data_fingerprint={"build_id": "b1", "source_fingerprint": "f"},
        metrics={"verdicts": verdicts},
    )
    listed = list_models(tmp_path)
    assert [m["model_id"] for m in listed] == [model_id]
    assert listed[0]["skill"] == {"direction": False, "move_size": True}
    loaded = load_latest(tmp_path)
    assert loaded.model_id == model_id and loaded.features == MODEL_FEATURE_COLUMNS
    pd.testing.assert_frame_equal(predict_frame(loaded, dataset), predict_frame(models, dataset))
    metadata = loaded.metadata
    assert metadata["feature_service"] == {"name": "earnings_move_v1", "version": 1}
    assert {"lightgbm", "pandas", "numpy", "feast"} <= set(metadata["packages"])
    assert metadata["training_window"]["rows"] == int(dataset["label_trusted"].sum())
    files = sorted(p.name for p in (tmp_path / "models" / model_id).iterdir())
    assert files == sorted([*(f"{name}.txt" for name in models.boosters), "metadata.json"])
    for path in (tmp_path / "models" / model_id).iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} is a pickle"
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".tmp")]
    sources = "".join(p.read_text() for p in Path(ivcrush.training.__file__).parent.rglob("*.py"))
    assert not re.search(r"^\s*(import|from)\s+(pickle|joblib|cloudpickle)", sources, re.MULTILINE)
    # serving: p_up is withheld when the direction model has no skill
    served = ensemble(loaded, dataset.head(3))
    assert [row["p_up"] for row in served] == [None, None, None]
    assert served[0]["quantiles"][0.5] == pytest.approx(served[0]["point"])
    with pytest.raises(RegistryError, match="no model registered"):
        load_latest(tmp_path / "empty")


def test_a_direction_model_without_skill_gets_a_plain_sentence() -> None:
    rng = np.random.default_rng(3)
    n = 400
    actual = rng.gamma(2.0, 2.0, n)
    rows = pd.DataFrame(
        {
            "label_trusted": True,
            "timing": "BMO",
            "fold": 0,
            "abs_close_move_pct": actual,
            "moved_up": rng.random(n) < 0.5,
            "p_up": rng.random(n),  # a coin: no information about the direction
            "iv_crush_ratio": np.nan,
            **{name: np.quantile(actual, level) for name, level in zip(QUANTILE_NAMES, QUANTILE_LEVELS, strict=True)},
            **{f"base_{name}": np.quantile(actual, 0.5) for name in QUANTILE_NAMES},
            **{f"base_global_{name}": np.quantile(actual, 0.5) for name in QUANTILE_NAMES},
            "base_global_median": np.median(actual),
            "base_2_0_mean": actual.mean(),
            "base_2_0_intraday": actual.mean(),
            "base_median_8q": np.median(actual),
            "base_2_0_mean_fallback": False,
            "base_2_0_intraday_fallback": False,
            "base_median_8q_fallback": False,
            "base_quantiles_fallback": False,
        }
    )
    rows["point"] = rows["q50"]
    verdict = compute_metrics(rows, resamples=200, notes={"iv_crush": "not trained: only 0 past events"})["verdicts"]
    direction = verdict["direction"]
    assert direction["skill"] is False
    pattern = (
        r"Direction model has no skill: AUC 0\.\d\d \(95% CI 0\.\d\d-0\.\d\d\) includes 0\.5; serving will not use it\."
    )
    assert re.fullmatch(pattern, direction["sentence"]), direction["sentence"]
    assert verdict["iv_crush"]["sentence"].startswith("IV-crush model not trained: only 0 past events")


def test_train_and_register_refuses_a_build_that_failed_the_quality_gate(published_sample: Settings) -> None:
    manifest = Path(published(published_sample).build_dir) / BUILD_MANIFEST  # the build it would train on
    original = manifest.read_text()
    manifest.write_text(json.dumps({**json.loads(original), "quality_errors": 2}))
    try:
        with pytest.raises(RegistryError, match="refusing to train"):
            train_and_register(published_sample, num_boost_round=ROUNDS)
    finally:
        manifest.write_text(original)
    assert list_models(published_sample.workdir) == []

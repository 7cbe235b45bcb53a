"""Models: deterministic training, calibrated non-crossing quantiles with their tail, leakage check, registry round
trip, the served forecast (model only with pinball skill, else the trusted scaled history)."""

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
from ivcrush.feature_repo.feature_names import MODEL_FEATURE_COLUMNS
from ivcrush.feature_repo.materialize import materialize
from ivcrush.settings import Settings
from ivcrush.training.data import training_set
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.move_size import REFERENCE_NAMES
from ivcrush.training.predict import (
    REFERENCE_BASIS,
    confidence,
    ensemble,
    move_distribution,
    predict_frame,
    reference_distribution,
)
from ivcrush.training.registry import RegistryError, list_models, load_latest, register
from ivcrush.training.release import train_and_register
from ivcrush.training.skill import compute_metrics
from ivcrush.training.train import QUANTILE_ROUNDS, LeakageError, train_models
from ivcrush.workspace import BUILD_MANIFEST, published
from tests.evaluation_rows import pooled_rows

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
    assert first.move_size.to_dict() == second.move_size.to_dict()
    assert first.boosters["q50"].current_iteration() == QUANTILE_ROUNDS
    assert first.notes["iv_crush"].startswith("not trained: only ")


def test_quantiles_do_not_cross_and_point_is_the_median(dataset: pd.DataFrame) -> None:
    models = train_models(dataset, num_boost_round=ROUNDS)
    predictions = predict_frame(models, dataset)
    q = predictions[list(QUANTILE_NAMES)].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all()
    reference = predictions[list(REFERENCE_NAMES)].to_numpy()
    assert (np.diff(reference, axis=1) >= 0).all() and (reference >= 0).all()
    assert (predictions["point"] == predictions["q50"]).all()
    calibration = models.move_size.calibration
    assert (predictions["tail_shape"] == calibration.tail_shape).all()
    assert (predictions["tail_scale"] == calibration.tail_scale).all()
    assert predictions["confidence"].between(0, 1).all()
    assert predictions["p_up"].between(0, 1).all()
    assert predictions["iv_crush_ratio"].isna().all(), "IV crush is not trained on the sample"


def test_predictions_are_the_calibrated_move_distribution(dataset: pd.DataFrame) -> None:
    """The frame's quantiles and tail are those of one MoveDistribution: the raw quantiles shifted by the stored
    calibration (thin strata widened more), with its fitted tail; the median is not shifted."""
    models = train_models(dataset, num_boost_round=ROUNDS)
    frame = dataset.head(50)
    predictions = predict_frame(models, frame)
    distribution = move_distribution(models, frame)
    np.testing.assert_allclose(predictions[list(QUANTILE_NAMES)].to_numpy(), distribution.quantiles)
    rebuilt = MoveDistribution.from_frame(predictions)
    twice_q90 = predictions["q90"].to_numpy() * 2
    np.testing.assert_allclose(rebuilt.sf(twice_q90), distribution.sf(twice_q90))
    assert (rebuilt.sf(predictions["q90"].to_numpy() * 3) > 0).all(), "a real tail: never 0 beyond q90"
    no_history = move_distribution(models, frame, np.zeros(len(frame)))
    long_history = move_distribution(models, frame, np.full(len(frame), 12.0))
    width = no_history.quantiles[:, -1] / no_history.quantiles[:, 0]
    assert (width >= long_history.quantiles[:, -1] / long_history.quantiles[:, 0] - 1e-12).all(), "thin: widened"
    np.testing.assert_allclose(no_history.quantiles[:, 2], long_history.quantiles[:, 2])
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
    assert loaded.move_size.to_dict() == models.move_size.to_dict()
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
    assert served[0]["basis"] == "model"
    with pytest.raises(RegistryError, match="no model registered"):
        load_latest(tmp_path / "empty")
    legacy = tmp_path / "models" / model_id / "metadata.json"
    legacy.write_text(json.dumps({k: v for k, v in metadata.items() if k != "move_size"}))
    with pytest.raises(RegistryError, match="no calibrated move-size forecast"):
        load_latest(tmp_path)


def test_a_model_without_pinball_skill_serves_the_trusted_scaled_history(dataset: pd.DataFrame) -> None:
    models = train_models(dataset, num_boost_round=ROUNDS)
    frame = dataset.tail(20).reset_index(drop=True)
    verdicts = {"move_size": {"skill": False}, "direction": {"skill": False}}
    served = ensemble(models, frame, verdicts)
    reference = reference_distribution(models, frame)
    assert {row["basis"] for row in served} == {REFERENCE_BASIS}
    for i, row in enumerate(served):
        assert list(row["quantiles"].values()) == pytest.approx(reference.quantiles[i].tolist())
        assert (row["tail_shape"], row["tail_scale"]) == pytest.approx(
            (reference.tail_shape[i], reference.tail_scale[i])
        )
        assert row["point"] == pytest.approx(reference.quantiles[i, 2])
    # never 2.0's all-rows mean: changing it changes nothing
    changed = frame.assign(hm_close_mean_12q_all_rows=frame["hm_close_mean_12q_all_rows"] * 5)
    assert [r["quantiles"] for r in ensemble(models, changed, verdicts)] == [r["quantiles"] for r in served]
    with_skill = ensemble(models, frame, {"move_size": {"skill": True}})
    model = move_distribution(models, frame)
    assert {row["basis"] for row in with_skill} == {"model"}
    assert list(with_skill[0]["quantiles"].values()) == pytest.approx(model.quantiles[0].tolist())


def test_an_amc_event_is_widened_like_thin_history(dataset: pd.DataFrame) -> None:
    models = train_models(dataset, num_boost_round=ROUNDS)
    frame = dataset.tail(30).reset_index(drop=True).assign(hm_prior_events=8, timing="AMC")
    verdicts = {"move_size": {"skill": True}}
    amc = ensemble(models, frame, verdicts)
    validated = ensemble(models, frame, verdicts, amc_labels_untrusted=False)
    thin = move_distribution(models, frame, np.full(len(frame), 2.0))
    for i, row in enumerate(amc):
        assert list(row["quantiles"].values()) == pytest.approx(thin.quantiles[i].tolist())
        assert row["history_stratum"] == "6+" and row["prior_trusted_moves"] == 8
    bmo = ensemble(models, frame.assign(timing="BMO"), verdicts)
    assert [r["quantiles"] for r in validated] == [r["quantiles"] for r in bmo]


def test_a_direction_model_without_skill_gets_a_plain_sentence() -> None:
    rng = np.random.default_rng(3)
    n = 400
    actual = rng.gamma(2.0, 2.0, n)
    model = {name: np.quantile(actual, level) for name, level in zip(QUANTILE_NAMES, QUANTILE_LEVELS, strict=True)}
    rows = pooled_rows(actual, rng, model, {name: np.quantile(actual, 0.5) for name in QUANTILE_NAMES})
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

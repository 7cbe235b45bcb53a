"""Release: train on every past event and register the models with the verdicts of their evaluation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from ivcrush import progress
from ivcrush.settings import Settings
from ivcrush.training.data import training_set
from ivcrush.training.evaluate import evaluate, frame_hash
from ivcrush.training.evaluations import latest_evaluation, training_code
from ivcrush.training.fold_cache import ModelCache
from ivcrush.training.registry import METADATA, RegistryError, list_models, register
from ivcrush.training.train import NUM_BOOST_ROUND, train_models
from ivcrush.workspace import Generation, current_build, generation_build, published


def _evaluation_path(evaluation: Mapping[str, object]) -> object:
    """Where an evaluation is written: `path` as read back (`latest_evaluation`), `out_dir` as just run."""
    return evaluation.get("path") or evaluation.get("out_dir")


def prefetch_release_training(
    models_cache: ModelCache,
    dataset: pd.DataFrame,
    *,
    trusted_only: bool = True,
    num_boost_round: int = NUM_BOOST_ROUND,
) -> None:
    """Start the training `train_and_register` with the same `dataset`, options and `models_cache` does, in the
    cache's workers (the main job: next to its evaluation); `train_and_register` then takes its result."""
    models_cache.prefetch(dataset, trusted_only=trusted_only, num_boost_round=num_boost_round)


def train_and_register(
    settings: Settings,
    *,
    trusted_only: bool = True,
    num_boost_round: int = NUM_BOOST_ROUND,
    evaluation: Mapping[str, Any] | None = None,
    quick_folds: int = 2,
    dataset: pd.DataFrame | None = None,
    generation: Generation | None = None,
    models_cache: ModelCache | None = None,
) -> str:
    """Train on every past event (trusted labels by default) and register; return the model_id.

    The verdicts come from `evaluation` when given, else from the newest `evaluate` run of the same build
    under `<workdir>/evaluations/`, else from a quick walk-forward run (`quick_folds` folds) done here.
    `dataset` is the published training set where the caller retrieved it already; `generation` the
    published generation of the caller's run (else resolved here): the models are trained on it and its
    build. Refuses a build that failed the data-quality gate, and a generation that is not of the workspace's
    current build (a newer build is not materialized yet).
    """
    current = current_build(settings)
    if current is None:
        raise RegistryError("no published build in the workspace; run `ivcrush build` first")
    generation = generation or published(settings)
    build = generation_build(generation)
    if build is None:
        raise RegistryError(
            f"the build {generation.build_id} of the published feature store is gone; run `ivcrush materialize`"
        )
    if build.quality_errors > 0:
        raise RegistryError(
            f"refusing to train on build {build.build_id}: it failed {build.quality_errors} error-severity "
            "data-quality check(s); see `ivcrush validate`"
        )
    if generation.build_id != current.build_id:
        raise RegistryError(
            f"the feature store publishes build {generation.build_id}, not the current build {current.build_id}; "
            "run `ivcrush materialize` first"
        )
    if dataset is None:
        dataset = training_set(settings, generation=generation)
    if evaluation is None:
        evaluation = latest_evaluation(settings, build.build_id)
    if evaluation is None:
        evaluation = evaluate(
            settings,
            folds=quick_folds,
            num_boost_round=num_boost_round,
            dataset=dataset,
            generation=generation,
            models_cache=models_cache,
        )
    progress.step("training the models on every past event")
    fit = models_cache.models if models_cache else train_models
    models = fit(dataset, trusted_only=trusted_only, num_boost_round=num_boost_round)
    metrics = {
        "verdicts": evaluation.get("verdicts", {}),
        "summary": evaluation.get("summary", []),
        "flags": evaluation.get("flags", []),
        "targets": evaluation.get("targets", []),
        "evaluation_setup": {k: v for k, v in evaluation.get("setup", {}).items() if k != "folds"},
        "evaluation_path": _evaluation_path(evaluation),
        "trusted": {
            key: evaluation.get("trusted", {}).get(key) for key in ("n", "move_size", "quantiles", "direction", "gate")
        },
    }
    fingerprint = {
        "build_id": build.build_id,
        "source_fingerprint": build.source_fingerprint,
        "training_frame_sha256": frame_hash(dataset),
        "rows": len(dataset),
        "as_of": date.today().isoformat(),
    }
    progress.step("registering the models")
    return register(
        settings.workdir,
        models,
        feature_service=generation.feature_service,
        data_fingerprint=fingerprint,
        metrics=metrics,
    )


def reusable_evaluation(settings: Settings, build_id: str, folds: int) -> dict[str, Any] | None:
    """The newest walk-forward evaluation (`folds` folds, default setup) of this build's training set, or None.

    A build's training set is a function of its marts: the same build gives the same training set."""
    evaluation = latest_evaluation(settings, build_id)
    setup = evaluation.get("setup", {}) if evaluation else {}
    if not isinstance(setup, dict) or setup.get("mode") != f"walk-forward, {folds} folds (expanding)":
        return None
    if setup.get("shuffled_labels") or setup.get("num_boost_round") != NUM_BOOST_ROUND:
        return None
    if setup.get("training_code") != training_code():  # made by other code: evaluate (and train) again
        return None
    return evaluation


def reusable_model(settings: Settings, generation: Generation, evaluation: Mapping[str, object]) -> str | None:
    """The newest registered model where it was trained on the generation's build and feature service with this
    evaluation's verdicts (what `train_and_register` would register again), or None."""
    models = list_models(settings.workdir)
    if not models:
        return None
    latest = models[-1]
    service = latest["feature_service"]
    name = service.get("name") if isinstance(service, dict) else service
    metadata = json.loads((Path(str(latest["path"])) / METADATA).read_text())
    same = (
        latest["build_id"] == generation.build_id
        and name == generation.feature_service
        and metadata.get("metrics", {}).get("evaluation_path") == _evaluation_path(evaluation)
    )
    return str(latest["model_id"]) if same else None

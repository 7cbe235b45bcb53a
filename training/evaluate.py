"""Walk-forward evaluation by date, next to the baselines on exactly the same events (orchestration).

Splits are `training.splits`, metrics `training.metrics` and `training.forecast_quality`, the skill gate
`training.skill`; this module trains a fold's models (each with its own calibration, from its training window
alone), predicts its test events' calibrated distributions, joins the baselines, and writes predictions.csv,
metrics.json and report.html.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ivcrush import progress
from ivcrush.constants import QUANTILE_NAMES
from ivcrush.feature_repo.feature_names import MODEL_FEATURE_COLUMNS
from ivcrush.settings import Settings
from ivcrush.training.baselines import EMPIRICAL_NAMES, POINT_BASELINES, baseline_frame
from ivcrush.training.calibration import refit
from ivcrush.training.data import training_set
from ivcrush.training.evaluations import training_code
from ivcrush.training.fold_cache import ModelCache
from ivcrush.training.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, rounded
from ivcrush.training.move_size import REFERENCE_NAMES
from ivcrush.training.predict import predict_frame
from ivcrush.training.recalibration import REFIT_DAYS, refreshed_forecasts
from ivcrush.training.skill import compute_metrics
from ivcrush.training.splits import EvaluationError, walk_forward_splits
from ivcrush.training.train import (
    DIRECTION_LABEL,
    IMPLIED_COLUMN,
    MOVE_LABEL,
    NUM_BOOST_ROUND,
    QUANTILE_ROUNDS,
    feature_importance,
    iv_rows,
    train_models,
    training_rows,
)
from ivcrush.workspace import Generation, generation_build, published

MIN_TRAIN_ROWS = 50
# the feature columns the metrics read; the others are dropped from the pooled test rows
FEATURES_READ_BY_METRICS = {IMPLIED_COLUMN, "vol_up_rate_8q", "hm_prior_events"}
HYPERPARAMETERS = (
    "fixed settings, checked on inner folds only (the latest 30% of each walk-forward training window, each slice "
    "forecast from the outcomes known before it): 50 quantile rounds, no blend with the reference, the tree "
    "settings, the scaled target's 8 pseudo-events, the calibration design and its daily re-fit in the evaluation; the "
    "folds evaluated here are never used to choose"
)


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a training frame (values and column names), for the data fingerprint."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _shuffled(train: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The training window with its labels permuted among the rows (a model that cannot learn)."""
    rng = np.random.default_rng(seed)
    out = train.copy()
    order = rng.permutation(len(out))
    for column in (MOVE_LABEL, "signed_close_move_pct", DIRECTION_LABEL, "label_trusted"):
        out[column] = out[column].to_numpy()[order]
    return out


def _fitted_window(train: pd.DataFrame, split: Mapping[str, Any], shuffle_labels: bool) -> pd.DataFrame:
    """What a fold's models are trained on: its training window (labels shuffled for the test hook)."""
    return _shuffled(train, seed=BOOTSTRAP_SEED + int(split["fold"])) if shuffle_labels else train


def evaluate_frame(
    dataset: pd.DataFrame,
    *,
    out_dir: Path,
    train_until: date | None = None,
    test_from: date | None = None,
    folds: int = 4,
    features: Sequence[str] | None = None,
    trusted_only: bool = True,
    num_boost_round: int = NUM_BOOST_ROUND,
    params: dict[str, object] | None = None,
    shuffle_labels: bool = False,
    check_leakage: bool = True,
    resamples: int = BOOTSTRAP_RESAMPLES,
    report: bool = True,
    context: Mapping[str, object] | None = None,
    refit_days: int | None = REFIT_DAYS,
    models_cache: ModelCache | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Walk-forward evaluation of `dataset` (a training set); writes predictions.csv, metrics.json, report.

    `models_cache` (the main job's): each fold's models reused where trained on the same rows and options,
    all folds' trainings started at once in its workers; `meanwhile` is called once they are started (the main
    job starts its final training there, after the folds').

    Test hooks: `shuffle_labels` permutes the labels of every training window (the model cannot learn);
    `features` may name extra columns (e.g. an injected look-ahead feature); `check_leakage=False` skips the
    label-correlation check so that the evaluation's implausible-skill flag can be shown. `refit_days`: the
    calibrations are re-fitted every so many days within each fold from the outcomes known by then, as the
    daily main job recalibrates (`training.recalibration`); None holds each fold's calibration still.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not dataset.index.equals(pd.RangeIndex(len(dataset))):
        dataset = dataset.reset_index(drop=True)  # (a copy: only where needed, it can be large)
    splits = walk_forward_splits(dataset, folds=folds, train_until=train_until, test_from=test_from)
    fit_options: dict[str, Any] = {
        "features": features,
        "trusted_only": trusted_only,
        "num_boost_round": num_boost_round,
        "params": params,
        "check_leakage": check_leakage,
    }
    if models_cache:
        for split in splits:
            train = dataset[split["train"]]
            if len(training_rows(train, trusted_only)) >= MIN_TRAIN_ROWS:
                models_cache.prefetch(_fitted_window(train, split, shuffle_labels), **fit_options)
    if meanwhile:
        meanwhile()
    if report:  # matplotlib's import (~0.4 s) while the trainings run, not after them on the critical path
        from ivcrush.training.report import write_report
    parts, fold_info, importances, notes = [], [], [], {}
    for number, split in enumerate(splits, 1):
        progress.step("walk-forward evaluation: training and testing each fold", number, len(splits))
        train = dataset[split["train"]]
        test = dataset[split["test"]]
        usable = len(training_rows(train, trusted_only))
        info: dict[str, Any] = {
            "fold": split["fold"],
            "train_rows": usable,
            "train_last_outcome_known_at": str(train["outcome_known_at"].max()) if len(train) else None,
            "test_first_decision": str(split["test_start"]),
            "test_last_decision": str(test["event_timestamp"].max()),
            "test_rows": len(test),
            "test_trusted_rows": int(test["label_trusted"].sum()),
        }
        if usable < MIN_TRAIN_ROWS:
            info["skipped"] = f"only {usable} training rows (need {MIN_TRAIN_ROWS})"
            fold_info.append(info)
            continue
        # the baselines need no model: computed first, while the fold's trainings may still run
        baselines = baseline_frame(test, dataset, train)
        iv_baseline = _iv_baseline(train, trusted_only)
        fit = models_cache.models if models_cache else train_models  # hook: the incremental main job's cache
        models = fit(_fitted_window(train, split, shuffle_labels), **fit_options)
        notes.update(models.notes)
        importances.append(feature_importance(models, "q50"))
        predictions = predict_frame(models, test)
        if refit_days:
            start = pd.Timestamp(split["test_start"])
            refit_with = models_cache.refit if models_cache else refit
            predictions, info["calibration_refits"] = refreshed_forecasts(
                models, test, predictions, start, refit_days, trusted_only, refit_with
            )
        # the test rows without the features the metrics never read (they are most of a large frame)
        unread = [c for c in MODEL_FEATURE_COLUMNS if c in test.columns and c not in FEATURES_READ_BY_METRICS]
        part = pd.concat([test.drop(columns=unread), predictions, baselines], axis=1)
        part["iv_ratio_baseline"] = iv_baseline
        part["fold"] = split["fold"]
        parts.append(part)
        info["iv_crush"] = models.notes.get("iv_crush", f"trained on {models.training['iv_rows']} rows")
        info["calibration"] = models.move_size.calibration.to_dict()
        info["reference_calibration"] = models.move_size.reference_calibration.to_dict()
        fold_info.append(info)
    if not parts:
        raise EvaluationError("no fold had enough training rows; " + "; ".join(str(f) for f in fold_info))
    rows = pd.concat(parts).reset_index(drop=True)
    importance = (pd.concat(importances, axis=1).fillna(0).mean(axis=1)).sort_values(ascending=False)
    progress.step("metrics, block bootstrap and the skill gate")
    metrics = compute_metrics(rows, resamples=resamples, notes=notes)
    metrics["setup"] = {
        "mode": "single split" if (train_until or test_from) else f"walk-forward, {folds} folds (expanding)",
        "train_until": train_until.isoformat() if train_until else None,
        "test_from": test_from.isoformat() if test_from else None,
        "trusted_only_training": trusted_only,
        "num_boost_round": num_boost_round,
        "quantile_rounds": QUANTILE_ROUNDS,
        "hyperparameters": HYPERPARAMETERS,
        "shuffled_labels": shuffle_labels,
        "training_code": training_code(),
        "point_estimate": "median of the calibrated move distribution (q50; calibration leaves the median)",
        "calibration_refresh": _refresh_words(refit_days),
        "folds": fold_info,
        "notes": notes,
    }
    metrics["summary"].append(f"Calibration: {_refresh_words(refit_days)}.")
    metrics["dataset"] = {**(context or {}), "rows": len(dataset), "frame_hash": frame_hash(dataset)}
    metrics["feature_importance_gain_q50"] = {k: rounded(v, 2) for k, v in importance.head(25).items()}
    metrics["created_at"] = datetime.now(UTC).isoformat()
    metrics["out_dir"] = str(out_dir)
    _write_predictions(rows, out_dir / "predictions.csv")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    if report:
        progress.step("writing the evaluation report")
        write_report(out_dir, rows, metrics, importance)
    return metrics


def evaluate(
    settings: Settings,
    *,
    train_until: date | None = None,
    test_from: date | None = None,
    folds: int = 4,
    out_dir: Path | None = None,
    dataset: pd.DataFrame | None = None,
    generation: Generation | None = None,
    **options: object,
) -> dict[str, Any]:
    """Walk-forward evaluation of the published training set (`dataset`, where the caller retrieved it
    already); see `evaluate_frame` for the options.

    `generation`: the published generation of the caller's run (else resolved here); the dataset, build id
    and source fingerprint all come from it and its build. `out_dir` defaults to
    `<workdir>/evaluations/<timestamp>`; `train_and_register` attaches the verdicts of the newest evaluation
    of the same build.
    """
    generation = generation or published(settings)
    build = generation_build(generation)
    if dataset is None:
        dataset = training_set(settings, generation=generation)
    out_dir = Path(out_dir) if out_dir is not None else default_evaluation_dir(settings)
    context = {
        "build_id": generation.build_id,
        "source_fingerprint": build.source_fingerprint if build else None,
        "feature_service": generation.feature_service,
    }
    return evaluate_frame(
        dataset,
        out_dir=out_dir,
        train_until=train_until,
        test_from=test_from,
        folds=folds,
        context=context,
        **options,  # type: ignore[arg-type]
    )


def _refresh_words(refit_days: int | None) -> str:
    if not refit_days:
        return "each fold's calibration held still over the fold"
    every = "every day" if refit_days == 1 else f"every {refit_days} days"
    return (
        f"re-fitted {every} within each fold on the outcomes known by then, as the daily main job recalibrates "
        "(the boosters are trained once per fold)"
    )


def default_evaluation_dir(settings: Settings) -> Path:
    return settings.workdir / "evaluations" / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def _iv_baseline(train: pd.DataFrame, trusted_only: bool) -> float:
    """Constant realized/implied ratio of the training window (the IV-crush model's baseline)."""
    rows = iv_rows(training_rows(train, trusted_only))
    if rows.empty:
        return math.nan
    return float((rows[MOVE_LABEL] / pd.to_numeric(rows[IMPLIED_COLUMN])).median())


def _write_predictions(rows: pd.DataFrame, path: Path) -> None:
    columns = [
        "ticker",
        "earnings_date",
        "timing",
        "label_trusted",
        "fold",
        "actual",
        "point",
        *QUANTILE_NAMES,
        "tail_shape",
        "tail_scale",
        "hm_prior_events",
        "p_up",
        "moved_up",
        "confidence",
        "iv_crush_ratio",
        *POINT_BASELINES,
        *EMPIRICAL_NAMES,
        "base_quantiles_fallback",
        "base_global_median",
        "base_fair_2_0",
        *REFERENCE_NAMES,
        "ref_tail_shape",
        "ref_tail_scale",
    ]
    out = rows.rename(columns={MOVE_LABEL: "actual"})
    out[columns].to_csv(path, index=False, float_format="%.6g")

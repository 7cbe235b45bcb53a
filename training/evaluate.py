"""Walk-forward evaluation by date, next to the baselines on exactly the same events, and the skill gate.

Splits (expanding windows): the labelled events are ordered by decision time (`event_timestamp`) and cut
into `folds + 1` blocks of equal size; the first block only trains, each later block is one test fold. A
fold trains on every event whose outcome was known (`outcome_known_at`) strictly before the fold's first
decision time (and on or before `train_until` when given). With `train_until` / `test_from` there is one
split: the test events are those decided on or after `test_from` (00:00 UTC), or after the end of
`train_until` when only that is given.

Metrics are computed on **trusted** labels; untrusted labels (after-close moves that 2.0 stored on the
announcement day) are reported separately under "untrusted", clearly labelled, for information only.

Skill gate: the move-size model has skill when its MAE is below both the 2.0 rule's and a constant median's
(the training window's, what a model that learned nothing predicts) and its mean pinball loss is below both
the ticker's empirical quantiles' and the constant quantiles'; the direction model when the lower end of its
bootstrap 95% CI of the AUC is above 0.5; the IV-crush model when it was trained and beats a constant ratio.
A model without skill is recorded as "no skill" with a sentence saying why; serving reads the verdicts from
the registry metadata.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.feature_services import MODEL_FEATURE_COLUMNS
from ivcrush.settings import Settings
from ivcrush.training.baselines import (
    BASELINE_LABELS,
    EMPIRICAL_NAMES,
    GLOBAL_NAMES,
    POINT_BASELINES,
    baseline_frame,
    fallback_shares,
)
from ivcrush.training.data import training_set
from ivcrush.training.predict import predict_frame, prob_move_exceeds
from ivcrush.training.train import (
    DIRECTION_LABEL,
    IMPLIED_COLUMN,
    MOVE_LABEL,
    NUM_BOOST_ROUND,
    QUANTILE_NAMES,
    QUANTILES,
    TrainedModels,
    feature_importance,
    iv_rows,
    train_models,
    training_rows,
)
from ivcrush.workspace import current_build, published

BOOTSTRAP_RESAMPLES = 500
BOOTSTRAP_SEED = 7
FIXED_THRESHOLDS = (3.0, 5.0, 8.0)
MIN_TRAIN_ROWS = 50
MIN_IV_TEST_ROWS = 20
# Earnings moves are noisy: a model explaining most of their variance has almost surely seen the outcome.
IMPLAUSIBLE_R2 = 0.6
IMPLAUSIBLE_MAE_RATIO = 0.6
UNTRUSTED_NOTE = (
    "UNTRUSTED labels: after-close (AMC) and UNKNOWN-timing rows, whose stored move is the announcement-day "
    "move, not the reaction; shown for information only, never used for verdicts"
)


class EvaluationError(IvcrushError):
    """The walk-forward evaluation could not be run (too few events for the folds asked)."""


# ----------------------------------------------------------------------------------------------- metrics


FEATURES_READ_BY_METRICS = {IMPLIED_COLUMN, "vol_up_rate_8q"}


def pinball(y: np.ndarray, q: np.ndarray, alpha: float) -> float:
    diff = y - q
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1) * diff)))


def point_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = pred - y
    sst = float(np.sum((y - y.mean()) ** 2)) if len(y) else math.nan
    return {
        "n": len(y),
        "mae": _r(np.mean(np.abs(err))),
        "rmse": _r(np.sqrt(np.mean(err**2))),
        "r2": _r(1 - float(np.sum(err**2)) / sst) if sst and sst > 0 else None,
    }


def quantile_metrics(y: np.ndarray, q: np.ndarray) -> dict[str, object]:
    """Pinball loss per quantile, their mean, coverage of q10-q90, observed share below each quantile."""
    losses = {
        name: _r(pinball(y, q[:, j], a)) for j, (a, name) in enumerate(zip(QUANTILES, QUANTILE_NAMES, strict=True))
    }
    return {
        "pinball": losses,
        "mean_pinball": _r(np.mean(list(losses.values()))),
        "coverage_80": _r(np.mean((y >= q[:, 0]) & (y <= q[:, -1]))),
        "share_below": {name: _r(np.mean(y < q[:, j])) for j, name in enumerate(QUANTILE_NAMES)},
    }


def exceedance_metrics(y: np.ndarray, q: np.ndarray, x: np.ndarray) -> dict[str, float]:
    """Reliability of P(|move| > x): mean predicted probability vs observed frequency, and Brier score."""
    p = np.asarray(prob_move_exceeds(q, x), dtype="float64")
    hit = (y > x).astype(float)
    return {"predicted": _r(p.mean()), "observed": _r(hit.mean()), "brier": _r(np.mean((p - hit) ** 2))}


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half)."""
    y = np.asarray(y, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return math.nan
    ranks = rankdata(p)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def bootstrap_auc(
    y: np.ndarray, p: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Seeded percentile bootstrap 95% CI of the AUC."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=bool)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        value = auc(y[idx], p[idx])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return math.nan, math.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def bootstrap_mean_diff(
    a: np.ndarray, b: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Seeded paired bootstrap 95% CI of mean(a - b)."""
    rng = np.random.default_rng(seed)
    diff = np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64")
    if len(diff) == 0:
        return math.nan, math.nan
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _r(value: float | np.floating, digits: int = 4) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


# ------------------------------------------------------------------------------------------------ splits


def _utc(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, datetime.min.time(), tzinfo=UTC))


def walk_forward_splits(
    dataset: pd.DataFrame, *, folds: int = 4, train_until: date | None = None, test_from: date | None = None
) -> list[dict[str, object]]:
    """Fold definitions: {fold, train (bool mask), test (bool mask), test_start}."""
    labelled = dataset[MOVE_LABEL].notna()
    decided = pd.to_datetime(dataset["event_timestamp"], utc=True)
    known = pd.to_datetime(dataset["outcome_known_at"], utc=True)
    cap = _utc(train_until + timedelta(days=1)) if train_until else None
    if train_until is not None or test_from is not None:
        start = _utc(test_from) if test_from else cap
        assert start is not None
        test = labelled & (decided >= start)
        if not test.any():
            raise EvaluationError(f"no labelled event decided on or after {start.date()}")
        first = decided[test].min()
        train = labelled & (known < first)
        if cap is not None:
            train &= known < cap
        return [{"fold": 0, "train": train, "test": test, "test_start": first}]
    if folds < 1:
        raise EvaluationError("folds must be at least 1")
    order = decided[labelled].sort_values(kind="mergesort")
    blocks = np.array_split(np.arange(len(order)), folds + 1)
    splits = []
    for fold, block in enumerate(blocks[1:]):
        if len(block) == 0:
            continue
        first, last = order.iloc[block[0]], order.iloc[block[-1]]
        test = labelled & (decided >= first) & (decided <= last)
        if fold == len(blocks) - 2:
            test = labelled & (decided >= first)
        splits.append({"fold": fold, "train": labelled & (known < first), "test": test, "test_start": first})
    # blocks cut on equal timestamps can overlap at their edges: each event belongs to its first fold
    seen = pd.Series(False, index=dataset.index)
    for split in splits:
        split["test"] = split["test"] & ~seen
        seen |= split["test"]
    return splits


# ---------------------------------------------------------------------------------------------- evaluate


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
    context: dict[str, object] | None = None,
) -> dict[str, object]:
    """Walk-forward evaluation of `dataset` (a training set); writes predictions.csv, metrics.json, report.

    Test hooks: `shuffle_labels` permutes the labels of every training window (the model cannot learn);
    `features` may name extra columns (e.g. an injected look-ahead feature); `check_leakage=False` skips the
    label-correlation check so that the evaluation's implausible-skill flag can be shown.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not dataset.index.equals(pd.RangeIndex(len(dataset))):
        dataset = dataset.reset_index(drop=True)  # (a copy: only where needed, it can be large)
    splits = walk_forward_splits(dataset, folds=folds, train_until=train_until, test_from=test_from)
    parts, fold_info, importances, notes = [], [], [], {}
    for split in splits:
        train = dataset[split["train"]]
        test = dataset[split["test"]]
        usable = len(training_rows(train, trusted_only))
        info = {
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
        fit_on = _shuffled(train, seed=BOOTSTRAP_SEED + int(split["fold"])) if shuffle_labels else train
        models = train_models(
            fit_on,
            features=features,
            trusted_only=trusted_only,
            num_boost_round=num_boost_round,
            params=params,
            check_leakage=check_leakage,
        )
        notes.update(models.notes)
        importances.append(feature_importance(models, "q50"))
        predictions = predict_frame(models, test)
        baselines = baseline_frame(test, dataset, train)
        iv_baseline = _iv_baseline(models, train, trusted_only)
        # the test rows without the features the metrics never read (they are most of a large frame)
        unread = [c for c in MODEL_FEATURE_COLUMNS if c in test.columns and c not in FEATURES_READ_BY_METRICS]
        part = pd.concat([test.drop(columns=unread), predictions, baselines], axis=1)
        part["iv_ratio_baseline"] = iv_baseline
        part["fold"] = split["fold"]
        parts.append(part)
        info["iv_crush"] = models.notes.get("iv_crush", f"trained on {models.training['iv_rows']} rows")
        fold_info.append(info)
    if not parts:
        raise EvaluationError("no fold had enough training rows; " + "; ".join(str(f) for f in fold_info))
    rows = pd.concat(parts).reset_index(drop=True)
    importance = (pd.concat(importances, axis=1).fillna(0).mean(axis=1)).sort_values(ascending=False)
    metrics = compute_metrics(rows, resamples=resamples, notes=notes)
    metrics["setup"] = {
        "mode": "single split" if (train_until or test_from) else f"walk-forward, {folds} folds (expanding)",
        "train_until": train_until.isoformat() if train_until else None,
        "test_from": test_from.isoformat() if test_from else None,
        "trusted_only_training": trusted_only,
        "num_boost_round": num_boost_round,
        "shuffled_labels": shuffle_labels,
        "point_estimate": "median of the non-crossing quantile models (q50)",
        "folds": fold_info,
        "notes": notes,
    }
    metrics["dataset"] = {**(context or {}), "rows": len(dataset), "frame_hash": frame_hash(dataset)}
    metrics["feature_importance_gain_q50"] = {k: _r(v, 2) for k, v in importance.head(25).items()}
    metrics["created_at"] = datetime.now(UTC).isoformat()
    metrics["out_dir"] = str(out_dir)
    _write_predictions(rows, out_dir / "predictions.csv")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    if report:
        from ivcrush.training.report import write_report

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
    **options: object,
) -> dict[str, object]:
    """Walk-forward evaluation of the published training set (`dataset`, where the caller retrieved it
    already); see `evaluate_frame` for the options.

    `out_dir` defaults to `<workdir>/evaluations/<timestamp>`; `train_and_register` attaches the verdicts
    of the newest evaluation of the same build.
    """
    generation = published(settings)
    build = current_build(settings)
    if dataset is None:
        dataset = training_set(settings)
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


def default_evaluation_dir(settings: Settings) -> Path:
    return settings.workdir / "evaluations" / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def latest_evaluation(settings: Settings, build_id: str | None = None) -> dict[str, object] | None:
    """The newest (by created_at) metrics.json under `<workdir>/evaluations/*/` (of `build_id` if given), or None."""
    folder = settings.workdir / "evaluations"
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("*/metrics.json"):
        metrics = json.loads(path.read_text())
        if build_id is None or metrics.get("dataset", {}).get("build_id") == build_id:
            metrics["path"] = str(path.parent)
            found.append(metrics)
    return max(found, key=lambda m: str(m.get("created_at", ""))) if found else None


def _iv_baseline(models: TrainedModels, train: pd.DataFrame, trusted_only: bool) -> float:
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
        "p_up",
        "moved_up",
        "confidence",
        "iv_crush_ratio",
        *POINT_BASELINES,
        *EMPIRICAL_NAMES,
        "base_quantiles_fallback",
        "base_global_median",
    ]
    out = rows.rename(columns={MOVE_LABEL: "actual"})
    out[columns].to_csv(path, index=False, float_format="%.6g")


# ----------------------------------------------------------------------------------------------- summary


def _block(rows: pd.DataFrame) -> dict[str, object]:
    """Move-size, quantile and exceedance metrics of model and baselines on the same rows."""
    y = rows[MOVE_LABEL].to_numpy(dtype="float64")
    block: dict[str, object] = {"n": len(rows)}
    if not len(rows):
        return block
    block["move_size"] = {"model": point_metrics(y, rows["point"].to_numpy())} | {
        name: point_metrics(y, rows[name].to_numpy()) for name in [*POINT_BASELINES, "base_q50", "base_global_median"]
    }
    model_q = rows[list(QUANTILE_NAMES)].to_numpy()
    base_q = rows[list(EMPIRICAL_NAMES)].to_numpy()
    global_q = rows[list(GLOBAL_NAMES)].to_numpy()
    block["quantiles"] = {
        "model": quantile_metrics(y, model_q),
        "empirical": quantile_metrics(y, base_q),
        "global": quantile_metrics(y, global_q),
    }
    thresholds: dict[str, np.ndarray] = {"x=2.0 mean": rows["base_2_0_mean"].to_numpy()}
    thresholds |= {f"x={x:g}%": np.full(len(rows), x) for x in FIXED_THRESHOLDS}
    block["exceedance"] = {
        label: {"model": exceedance_metrics(y, model_q, x), "empirical": exceedance_metrics(y, base_q, x)}
        for label, x in thresholds.items()
    }
    return block


def _direction(rows: pd.DataFrame, resamples: int) -> dict[str, object]:
    up = rows[DIRECTION_LABEL].astype(bool).to_numpy()
    p = rows["p_up"].to_numpy(dtype="float64")
    low, high = bootstrap_auc(up, p, resamples)
    base_rate = float(up.mean()) if len(up) else math.nan
    result: dict[str, object] = {
        "n": len(rows),
        "model": {
            "auc": _r(auc(up, p)),
            "auc_ci95": [_r(low), _r(high)],
            "brier": _r(np.mean((p - up) ** 2)),
        },
        "base_rate": {"p_up": _r(base_rate), "auc": 0.5, "brier": _r(np.mean((base_rate - up) ** 2))},
    }
    if "vol_up_rate_8q" in rows.columns:
        past = pd.to_numeric(rows["vol_up_rate_8q"], errors="coerce").fillna(0.5).to_numpy()
        result["past_up_rate_8q"] = {"auc": _r(auc(up, past))}
    return result


def _iv_metrics(rows: pd.DataFrame) -> dict[str, object]:
    if IMPLIED_COLUMN not in rows.columns:
        return {"n": 0}
    implied = pd.to_numeric(rows[IMPLIED_COLUMN], errors="coerce")
    have = rows[implied.notna() & (implied > 0) & rows["iv_crush_ratio"].notna()]
    if have.empty:
        return {"n": 0}
    ratio = (have[MOVE_LABEL] / pd.to_numeric(have[IMPLIED_COLUMN])).to_numpy()
    return {
        "n": len(have),
        "model": point_metrics(ratio, have["iv_crush_ratio"].to_numpy()),
        "constant_ratio": point_metrics(ratio, have["iv_ratio_baseline"].to_numpy()),
    }


def compute_metrics(
    rows: pd.DataFrame, resamples: int = BOOTSTRAP_RESAMPLES, notes: dict[str, str] | None = None
) -> dict[str, object]:
    """Metrics of the pooled out-of-sample rows (trusted and, separately, untrusted) and the verdicts."""
    trusted = rows[rows["label_trusted"].astype(bool)]
    untrusted = rows[~rows["label_trusted"].astype(bool)]
    metrics: dict[str, object] = {"baselines": BASELINE_LABELS}
    main = _block(trusted)
    main["direction"] = _direction(trusted, resamples)
    main["iv_crush"] = _iv_metrics(trusted)
    main["by_timing"] = {str(t): _block(g) for t, g in trusted.groupby("timing")}
    main["by_fold"] = [
        {
            "fold": int(fold),
            "n": len(g),
            "mae_model": _r(np.mean(np.abs(g["point"] - g[MOVE_LABEL]))),
            "mae_2_0_mean": _r(np.mean(np.abs(g["base_2_0_mean"] - g[MOVE_LABEL]))),
            "coverage_80_model": _r(np.mean((g[MOVE_LABEL] >= g["q10"]) & (g[MOVE_LABEL] <= g["q90"]))),
            "coverage_80_empirical": _r(np.mean((g[MOVE_LABEL] >= g["base_q10"]) & (g[MOVE_LABEL] <= g["base_q90"]))),
        }
        for fold, g in trusted.groupby("fold")
    ]
    main["fallback_shares"] = fallback_shares(trusted)
    metrics["trusted"] = main
    metrics["untrusted"] = {"note": UNTRUSTED_NOTE, **_block(untrusted)}
    metrics["verdicts"] = verdicts(main, trusted, resamples, notes or {})
    metrics["flags"] = implausibility_flags(main)
    metrics["summary"] = [v["sentence"] for v in metrics["verdicts"].values()] + metrics["flags"]
    return metrics


def verdicts(
    main: dict[str, object], trusted: pd.DataFrame, resamples: int, notes: dict[str, str]
) -> dict[str, dict[str, object]]:
    """The skill gate, with a plain-words sentence per model."""
    out: dict[str, dict[str, object]] = {}
    if not main.get("n"):
        sentence = "No trusted test events: no model could be evaluated; serving will not use any."
        return {name: {"skill": False, "sentence": sentence} for name in ("move_size", "direction", "iv_crush")}
    size, quantiles = main["move_size"], main["quantiles"]
    mae, base_mae, global_mae = size["model"]["mae"], size["base_2_0_mean"]["mae"], size["base_global_median"]["mae"]
    pin = quantiles["model"]["mean_pinball"]
    base_pin, global_pin = quantiles["empirical"]["mean_pinball"], quantiles["global"]["mean_pinball"]
    y = trusted[MOVE_LABEL].to_numpy()
    low, high = bootstrap_mean_diff(
        np.abs(trusted["base_2_0_mean"].to_numpy() - y), np.abs(trusted["point"].to_numpy() - y), resamples
    )
    skill = mae < min(base_mae, global_mae) and pin < min(base_pin, global_pin)
    detail = (
        f"MAE {mae:.2f} vs {base_mae:.2f} for the 2.0 mean (gain {base_mae - mae:+.2f} points, 95% CI "
        f"{low:+.2f} to {high:+.2f}) and {global_mae:.2f} for a constant median; mean pinball {pin:.3f} vs "
        f"{base_pin:.3f} for the ticker's empirical quantiles and {global_pin:.3f} for constant quantiles; "
        f"80% interval coverage {quantiles['model']['coverage_80']:.0%} "
        f"(empirical {quantiles['empirical']['coverage_80']:.0%}) on {main['n']} trusted events"
    )
    out["move_size"] = {
        "skill": bool(skill),
        "mae": mae,
        "mae_2_0_mean": base_mae,
        "mae_constant_median": global_mae,
        "mae_gain_vs_2_0_ci95": [_r(low), _r(high)],
        "mean_pinball": pin,
        "mean_pinball_empirical": base_pin,
        "mean_pinball_constant": global_pin,
        "sentence": (
            f"Move-size model beats its baselines: {detail}."
            if skill
            else f"Move-size model has no skill: {detail}; it does not beat every baseline on both MAE and pinball "
            "loss, so serving should fall back to the 2.0 mean and the empirical quantiles."
        ),
    }
    direction = main["direction"]["model"]
    a, (lo, hi) = direction["auc"], direction["auc_ci95"]
    has_ci = a is not None and lo is not None and hi is not None
    skill = bool(has_ci and lo > 0.5)
    out["direction"] = {
        "skill": skill,
        "auc": a,
        "auc_ci95": [lo, hi],
        "sentence": (
            f"Direction model has skill: AUC {a:.2f} (95% CI {lo:.2f}-{hi:.2f}) is above 0.5."
            if skill
            else (
                f"Direction model has no skill: AUC {a:.2f} (95% CI {lo:.2f}-{hi:.2f}) includes 0.5; "
                "serving will not use it."
                if has_ci and hi >= 0.5
                else f"Direction model has no skill: AUC {a} (95% CI {lo}-{hi}); serving will not use it."
            )
        ),
    }
    iv = main["iv_crush"]
    if not iv.get("n"):
        reason = notes.get("iv_crush") or "no test event has both an implied move and an IV-crush prediction"
        out["iv_crush"] = {
            "skill": False,
            "trained": "iv_crush" not in notes,
            "sentence": f"IV-crush model {reason}; serving will not use it.",
        }
    else:
        m_mae, c_mae = iv["model"]["mae"], iv["constant_ratio"]["mae"]
        skill = iv["n"] >= MIN_IV_TEST_ROWS and m_mae < c_mae
        out["iv_crush"] = {
            "skill": bool(skill),
            "mae": m_mae,
            "mae_constant_ratio": c_mae,
            "sentence": (
                f"IV-crush model {'beats' if skill else 'does not beat'} a constant realized/implied ratio: "
                f"MAE {m_mae:.3f} vs {c_mae:.3f} on {iv['n']} events" + ("." if skill else "; serving will not use it.")
            ),
        }
    return out


def implausibility_flags(main: dict[str, object]) -> list[str]:
    """Warnings for skill too good to be true for earnings moves (a look-ahead feature is the usual cause)."""
    if not main.get("n"):
        return []
    size = main["move_size"]
    r2 = size["model"]["r2"]
    ratio = size["model"]["mae"] / size["base_2_0_mean"]["mae"] if size["base_2_0_mean"]["mae"] else 0.0
    flags = []
    if (r2 is not None and r2 > IMPLAUSIBLE_R2) or ratio < IMPLAUSIBLE_MAE_RATIO:
        flags.append(
            f"IMPLAUSIBLE SKILL: move-size R^2 {r2:.2f}, MAE {ratio:.0%} of the 2.0 mean's; earnings moves are "
            "not this predictable before the fact: check for a feature that leaks the outcome."
        )
    return flags

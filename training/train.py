"""LightGBM models trained from the Feast training set (`training.data.training_set`), deterministically.

Models (all `lgb.train`, no sklearn, no pickle):

- **move size**: quantile models (objective "quantile", `QUANTILE_ROUNDS` rounds) at 0.1/0.25/0.5/0.75/0.9 of
  the absolute reaction-day close move `abs_close_move_pct` divided by the event's history level s
  (`training.scaling.history_scale`); predictions are multiplied back by s and made non-crossing by sorting
  each row. Then, from the training window alone, the calibration (`training.calibration.calibrate_window`:
  conformal shifts, thin-history widening and the generalized Pareto tail, from out-of-fold forecasts of the
  window's latest slices) and the trusted scaled-history reference with its own calibration; all stored with
  the model (`training.move_size.MoveSizeModel`). The **point estimate is the median** (calibration leaves it).
- **direction**: P(up), objective "binary" on `moved_up`.
- **IV crush**: realized / implied move ratio (`abs_close_move_pct / opt_implied_move_pct`, objective "l1"),
  only where at least `MIN_IV_ROWS` past events have an implied move and a label; else it is recorded as
  "not trained: only N past events have an implied move" and everything else works.

All models train on trusted labels by default (`label_trusted`; 2.0 stored after-close moves on the
announcement day). Determinism: `deterministic=True`, `force_row_wise=True`, fixed `seed`, `num_threads=1`: on a
few thousand rows a second thread saves little, and the main job trains its folds and final model in parallel
instead (`training.fold_cache`; the boosters on the snapshot are those of 2 threads, byte for byte).

Hyperparameters are fixed settings, all checked on INNER folds only: the latest 30% of each training window of
the 3- and 4-fold walk-forwards, each slice forecast by a model trained on the outcomes known before it (mean
pinball over the 7 windows; 5 slices of 6% for rounds and blend, 3 of 10% for the rest). Kept: 50 rounds
(25/50/100/150: 0.9929/0.9883/0.9910/0.9953), no blend with the scaled-history reference (best blend 0.9881,
within noise of none), the tree settings of `BASE_PARAMS` (0.9913; 3 leaves and depth 2 0.9915, 60 rows per leaf
0.9963) and `PRIOR_WEIGHT` 8 (4: 0.9914, 16: 0.9970); not adopted: a log target log(|move| / s + c) (c = 0.05:
0.9900, ahead in 2 of 7 windows) and seed bagging (mean of 3 boosters per level: 0.9897, ahead in 6 of 7 by 0.17%
for 2.6x the training time; README, "Models and evidence"). The gating folds of `ivcrush evaluate` never choose.
OpenMP waits passively (set in `ivcrush.training`'s `__init__`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.feature_names import MODEL_FEATURE_COLUMNS
from ivcrush.training import LIGHTGBM_THREADS
from ivcrush.training.calibration import calibrate_window
from ivcrush.training.move_size import MoveSizeModel
from ivcrush.training.reference import ScaledHistory
from ivcrush.training.scaling import history_scale

if TYPE_CHECKING:
    import lightgbm as lgb

MOVE_LABEL = "abs_close_move_pct"
DIRECTION_LABEL = "moved_up"
IV_RATIO_LABEL = "realized_to_implied"
IMPLIED_COLUMN = "opt_implied_move_pct"
LABEL_LIKE = (
    "abs_close_move_pct",
    "signed_close_move_pct",
    "abs_gap_move_pct",
    "intraday_range_pct",
    "moved_up",
)
MIN_IV_ROWS = 50
LEAK_CORRELATION = 0.95
SEED = 20250101
NUM_BOOST_ROUND = 300  # direction and IV-crush models
QUANTILE_ROUNDS = 50  # move-size quantile models (checked on inner folds, see the module docstring)

BASE_PARAMS: dict[str, object] = {
    "learning_rate": 0.03,
    # Small, heavily regularised trees: ~2,000 trusted rows of noisy moves; checked on inner folds (module
    # docstring). min_data_in_leaf is set per training set: rows // 20, clipped to [15, 100] (`leaf_size`).
    "num_leaves": 7,
    "max_depth": 4,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "seed": SEED,
    "num_threads": LIGHTGBM_THREADS,  # that of every LightGBM call (`ivcrush.training`)
    "verbose": -1,
}


class TrainingError(IvcrushError):
    """The models could not be trained as asked (no rows, a label among the features, ...)."""


class LeakageError(TrainingError):
    """A feature looks like the label: it would not be known at the decision time."""


@dataclass
class TrainedModels:
    """The boosters of one training run and what they were trained on."""

    boosters: dict[str, lgb.Booster]
    features: list[str]
    move_size: MoveSizeModel
    notes: dict[str, str] = field(default_factory=dict)
    training: dict[str, object] = field(default_factory=dict)

    @property
    def iv_crush_trained(self) -> bool:
        return "iv_crush" in self.boosters


def feature_matrix(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The features as float64 (NaN where missing; LightGBM handles NaN)."""
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise TrainingError(f"features missing from the frame: {', '.join(missing[:10])}")
    matrix = frame[list(features)]  # one copy; only non-numeric columns are converted (memory at scale)
    text = [name for name, dtype in matrix.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if text:
        matrix = matrix.assign(**{name: pd.to_numeric(matrix[name], errors="coerce") for name in text})
    return matrix.astype("float64", copy=False)


def feature_array(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """`feature_matrix`'s values as an (n, features) float64 array; when the features are numeric numpy columns
    (serving's frames are float64) without building that frame, whose checks cost more than a few rows."""
    positions = _positions(tuple(frame.columns.tolist()), tuple(features))
    if positions is not None:
        values = frame.take(positions, axis=1).to_numpy()
        if values.dtype == np.float64:  # numpy int and float columns: astype("float64")'s values
            return values
    return feature_matrix(frame, features).to_numpy(dtype="float64")


@lru_cache(maxsize=64)
def _positions(columns: tuple[object, ...], features: tuple[str, ...]) -> list[int] | None:
    """Each feature's position among unique `columns` (None when a name repeats or a feature is missing)."""
    index = {name: j for j, name in enumerate(columns)}
    if len(index) < len(columns) or any(name not in index for name in features):
        return None
    return [index[name] for name in features]


def check_no_label_leak(
    frame: pd.DataFrame, features: Sequence[str], threshold: float = LEAK_CORRELATION, min_rows: int = 30
) -> None:
    """Refuse a feature that is a label or whose rank correlation with a label exceeds `threshold`.

    Earnings moves are noisy: no honest pre-decision feature comes close to |rho| = 0.95 with the move.
    """
    named = [name for name in features if name in LABEL_LIKE]
    if named:
        raise LeakageError(f"feature {named[0]} is a label column; labels are never features")
    x = feature_matrix(frame, features).to_numpy()
    for label in (MOVE_LABEL, "signed_close_move_pct"):
        if label not in frame.columns:
            continue
        y = pd.to_numeric(frame[label], errors="coerce").to_numpy(dtype="float64")
        for j, name in enumerate(features):
            both = ~np.isnan(x[:, j]) & ~np.isnan(y)
            if both.sum() < min_rows or np.unique(x[both, j]).size < 3:
                continue
            ranks = pd.DataFrame({"x": x[both, j], "y": y[both]}).rank()  # Spearman: ties share their mean rank
            rho = np.corrcoef(ranks["x"], ranks["y"])[0, 1]
            if abs(rho) > threshold:
                raise LeakageError(
                    f"feature {name} looks like the label {label} (rank correlation {rho:.3f} > {threshold}); "
                    "it cannot be known at the decision time"
                )


def leaf_size(rows: int) -> int:
    """Minimum rows per leaf: 5% of the training rows, at least 15 and at most 100."""
    return int(min(100, max(15, rows // 20)))


def _params(extra: dict[str, object] | None, rows: int = 0, **objective: object) -> dict[str, object]:
    return {**BASE_PARAMS, "min_data_in_leaf": leaf_size(rows), **objective, **(extra or {})}


def _train_one(x: pd.DataFrame, y: np.ndarray, params: dict[str, object], num_boost_round: int) -> lgb.Booster:
    import lightgbm as lgb  # here, not at the top: serving imports this module and never trains

    dataset = lgb.Dataset(x, label=y, free_raw_data=True, params={"verbose": -1})
    return lgb.train(params, dataset, num_boost_round=num_boost_round)


def fit_quantile_boosters(
    rows: pd.DataFrame,
    features: Sequence[str],
    scale_mean: float,
    params: dict[str, object] | None = None,
    rounds: int = QUANTILE_ROUNDS,
) -> dict[str, lgb.Booster]:
    """The move-size quantile boosters (q10..q90) of |move| / s on labelled `rows`; `scale_mean` is their
    mean |move| (the level s shrinks towards)."""
    import lightgbm as lgb  # here, not at the top: serving imports this module and never trains

    target = rows[MOVE_LABEL].to_numpy(dtype="float64") / history_scale(rows, scale_mean)
    # one Dataset (binned once) for the five levels: the same trees as one Dataset each, in less time
    dataset = lgb.Dataset(feature_matrix(rows, features), label=target, free_raw_data=True, params={"verbose": -1})
    return {
        name: lgb.train(_params(params, len(rows), objective="quantile", alpha=level), dataset, num_boost_round=rounds)
        for level, name in zip(QUANTILE_LEVELS, QUANTILE_NAMES, strict=True)
    }


def scaled_quantiles(
    boosters: dict[str, lgb.Booster], features: Sequence[str], frame: pd.DataFrame, scale_mean: float
) -> np.ndarray:
    """(n, 5) raw (uncalibrated) quantiles q10..q90 of |move| per row of `frame`: the boosters' forecast of
    |move| / s times s, non-negative and non-crossing."""
    x = feature_matrix(frame, features)
    return rescale_quantiles(
        np.column_stack([boosters[name].predict(x, num_threads=LIGHTGBM_THREADS) for name in QUANTILE_NAMES]),
        frame,
        scale_mean,
    )


def rescale_quantiles(raw: np.ndarray, frame: pd.DataFrame, scale_mean: float) -> np.ndarray:
    """(n, 5) quantiles of |move| from the quantile boosters' (n, 5) forecasts of |move| / s for the rows of
    `frame`: times s, non-negative and non-crossing."""
    return rescaled(raw, history_scale(frame, scale_mean))


def rescaled(raw: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`rescale_quantiles` of rows whose history levels s (`training.scaling.history_scale`) are known."""
    return np.sort(np.maximum(raw * scale[:, None], 0.0), axis=1)


# fit_quantile_boosters or what gives the same boosters (the main job's cache, `training.fold_cache`)
QuantileFit = Callable[[pd.DataFrame, Sequence[str], float, dict[str, object] | None], "dict[str, lgb.Booster]"]


def fit_move_size(
    rows: pd.DataFrame,
    features: Sequence[str],
    params: dict[str, object] | None = None,
    fit_quantiles: QuantileFit = fit_quantile_boosters,
) -> tuple[dict[str, lgb.Booster], MoveSizeModel]:
    """The quantile boosters on the window's labelled `rows` (sorted by decision time) and their calibration,
    reference and reference calibration, each from these rows alone."""
    scale_mean = float(rows[MOVE_LABEL].mean())
    boosters = fit_quantiles(rows, features, scale_mean, params)

    def model_forecast(fit: pd.DataFrame, target: pd.DataFrame) -> np.ndarray:
        mean = float(fit[MOVE_LABEL].mean())
        return scaled_quantiles(fit_quantiles(fit, features, mean, params), features, target, mean)

    def reference_forecast(fit: pd.DataFrame, target: pd.DataFrame) -> np.ndarray:
        return ScaledHistory.fit(fit).quantiles(target)

    return boosters, MoveSizeModel(
        scale_mean=round(scale_mean, 10),
        calibration=calibrate_window(rows, model_forecast),
        reference=ScaledHistory.fit(rows),
        reference_calibration=calibrate_window(rows, reference_forecast),
        quantile_rounds=QUANTILE_ROUNDS,
    )


def training_rows(frame: pd.DataFrame, trusted_only: bool = True) -> pd.DataFrame:
    """Rows with a move label (trusted only by default)."""
    rows = frame[frame[MOVE_LABEL].notna()]
    if trusted_only:
        rows = rows[rows["label_trusted"].astype(bool)]
    return rows


def iv_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Labelled rows with a positive implied move (the IV-crush model's rows)."""
    if IMPLIED_COLUMN not in frame.columns:
        return frame.iloc[0:0]
    implied = pd.to_numeric(frame[IMPLIED_COLUMN], errors="coerce")
    return frame[implied.notna() & (implied > 0) & frame[MOVE_LABEL].notna()]


def train_models(
    frame: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    trusted_only: bool = True,
    num_boost_round: int = NUM_BOOST_ROUND,
    params: dict[str, object] | None = None,
    min_iv_rows: int = MIN_IV_ROWS,
    check_leakage: bool = True,
    fit_quantiles: QuantileFit = fit_quantile_boosters,
) -> TrainedModels:
    """Train the move-size quantile (with its calibration and reference), direction and (where possible)
    IV-crush models on `frame`.

    `frame` is (a window of) `training_set(settings)`; only its labelled, by default trusted, rows are used.
    `num_boost_round` and `params` apply to the direction and IV-crush models; the move-size quantile models
    take `QUANTILE_ROUNDS` rounds and `params`. `fit_quantiles`: hook of the main job's cache (same boosters).
    """
    features = list(features or MODEL_FEATURE_COLUMNS)
    rows = training_rows(frame, trusted_only).sort_values(["event_timestamp", "ticker"], kind="mergesort")
    if len(rows) < 50:
        raise TrainingError(f"only {len(rows)} labelled rows to train on; need at least 50")
    if check_leakage:
        check_no_label_leak(rows, features)
    x = feature_matrix(rows, features)
    boosters, move_size = fit_move_size(rows, features, params, fit_quantiles)
    up = rows[DIRECTION_LABEL].astype(float).to_numpy()
    boosters["direction"] = _train_one(x, up, _params(params, len(rows), objective="binary"), num_boost_round)

    notes: dict[str, str] = {}
    with_implied = iv_rows(rows)
    if len(with_implied) >= min_iv_rows:
        ratio = (with_implied[MOVE_LABEL] / pd.to_numeric(with_implied[IMPLIED_COLUMN])).to_numpy(dtype="float64")
        boosters["iv_crush"] = _train_one(
            feature_matrix(with_implied, features),
            ratio,
            _params(params, len(with_implied), objective="l1"),
            num_boost_round,
        )
    else:
        notes["iv_crush"] = (
            f"not trained: only {len(with_implied)} past events have an implied move (at least {min_iv_rows} needed)"
        )
    training = {
        "rows": len(rows),
        "trusted_only": trusted_only,
        "iv_rows": len(with_implied),
        "first_event": str(rows["event_timestamp"].min()),
        "last_event": str(rows["event_timestamp"].max()),
        "last_outcome_known_at": str(rows["outcome_known_at"].max()),
        "num_boost_round": num_boost_round,
        "quantile_rounds": QUANTILE_ROUNDS,
        "params": _params(params, len(rows)),
    }
    return TrainedModels(boosters=boosters, features=features, move_size=move_size, notes=notes, training=training)


def feature_importance(models: TrainedModels, model: str = "q50") -> pd.Series:
    """Total gain per feature of one booster, largest first."""
    booster = models.boosters[model]
    gain = booster.feature_importance(importance_type="gain")
    return pd.Series(gain, index=booster.feature_name(), name="gain").sort_values(ascending=False)

"""Predictions from trained or registered models: the calibrated move distribution of each event, and the
forecasts serving consumes.

The boosters predict from one float64 feature array (`training.train.feature_array`), all at once where they
can (`JointBoosters`: serving's compiled forest), else one `predict` each; `ensemble` predicts only the boosters
whose forecasts it serves.

Move size: the boosters' raw quantiles (`training.train.rescale_quantiles`) are calibrated by the model's
`Calibration` (conformal shifts, then the widening of the thin-history strata by prior trusted moves) and get
its generalized Pareto tail: one `MoveDistribution` (training.distribution) per event, the same object the
evaluation scores, serving decides on and both backtests trade on. The trusted scaled-history reference,
calibrated the same way, is predicted next to it (a baseline in the evaluation, the serving fallback).

Confidence (documented for serving): with the relative width of the 80% interval w = (q90 - q10) / q50,
confidence = 1 / (1 + w), in (0, 1]; a narrow interval relative to the median gives high confidence.
A degenerate median (<= 0) gives confidence 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.training import LIGHTGBM_THREADS
from ivcrush.training.calibration import STRATA, THIN_STRATA, history_stratum
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.distribution_floats import parameter_floats
from ivcrush.training.move_size import REFERENCE_NAMES, MoveSizeModel
from ivcrush.training.scaling import HISTORY_CAP, OWN_LEVEL, PRIOR_COUNT, PRIOR_WEIGHT, history_columns, history_level
from ivcrush.training.train import feature_array, rescale_quantiles, rescaled

if TYPE_CHECKING:
    import lightgbm as lgb

PRIOR_EVENTS = "hm_prior_events"
# An AMC event whose labels sit on the announcement day is widened at least like this stratum (1-2 prior moves).
AMC_PRIOR_CAP = 2
MODEL_BASIS = "model"
REFERENCE_BASIS = "trusted scaled history"
MEDIAN = QUANTILE_LEVELS.index(0.5)


class Predictor(Protocol):
    """Trained boosters by name, the features they read and the move-size forecast's numbers: a fresh training
    run or a registered model."""

    @property
    def boosters(self) -> Mapping[str, lgb.Booster]: ...

    @property
    def features(self) -> Sequence[str]: ...

    @property
    def move_size(self) -> MoveSizeModel: ...


class JointBoosters(Protocol):
    """Boosters that predict several of themselves at once from one float64 feature array (serving's compiled
    forest, `ivcrush.serving.model.ServingBoosters`)."""

    def predict_many(self, x: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]: ...


def booster_predictions(models: Predictor, x: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each named booster's predictions for the rows of the feature array `x` (all at once where the boosters
    can)."""
    boosters = models.boosters
    if callable(getattr(boosters, "predict_many", None)):  # `isinstance(boosters, JointBoosters)`, without its ~5 us
        return cast(JointBoosters, boosters).predict_many(x, names)
    return {name: np.asarray(boosters[name].predict(x, num_threads=LIGHTGBM_THREADS)) for name in names}


def confidence(q10: np.ndarray | float, q50: np.ndarray | float, q90: np.ndarray | float) -> np.ndarray:
    """1 / (1 + (q90 - q10) / q50), in [0, 1]; 0 where the median is not positive."""
    q10, q50, q90 = (np.asarray(v, dtype="float64") for v in (q10, q50, q90))
    with np.errstate(divide="ignore", invalid="ignore"):
        width = (q90 - q10) / q50
        value = np.where(q50 > 0, 1.0 / (1.0 + np.maximum(width, 0.0)), 0.0)
    return np.clip(value, 0.0, 1.0)


def prior_events(frame: pd.DataFrame) -> np.ndarray:
    """Each event's number of prior trusted moves (0 where missing)."""
    if PRIOR_EVENTS not in frame:
        return np.zeros(len(frame))
    column = frame[PRIOR_EVENTS]
    if column.dtype == np.float64:  # serving's frames: no conversion to make
        values = column.to_numpy()
        return np.where(np.isnan(values), 0.0, values)
    return pd.to_numeric(column, errors="coerce").fillna(0).to_numpy(dtype="float64")


def move_distribution(models: Predictor, frame: pd.DataFrame, prior: np.ndarray | None = None) -> MoveDistribution:
    """The model's calibrated |move| distribution per row (`prior`: the prior trusted moves that choose the
    thin-history widening; default the rows' own)."""
    outputs = booster_predictions(models, feature_array(frame, models.features), QUANTILE_NAMES)
    return _model_distribution(models, frame, outputs, prior)


def _model_distribution(
    models: Predictor, frame: pd.DataFrame, outputs: Mapping[str, np.ndarray], prior: np.ndarray | None
) -> MoveDistribution:
    raw = np.column_stack([outputs[name] for name in QUANTILE_NAMES])
    quantiles = rescale_quantiles(raw, frame, models.move_size.scale_mean)
    return models.move_size.calibration.distribution(quantiles, prior_events(frame) if prior is None else prior)


def reference_distribution(models: Predictor, frame: pd.DataFrame, prior: np.ndarray | None = None) -> MoveDistribution:
    """The calibrated trusted scaled-history distribution per row (the reference stored with the model)."""
    move_size = models.move_size
    raw = move_size.reference.quantiles(frame)
    return move_size.reference_calibration.distribution(raw, prior_events(frame) if prior is None else prior)


def predict_frame(models: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """Per row: the model's calibrated q10..q90 and tail (tail_shape, tail_scale), point (= q50), p_up,
    iv_crush_ratio (NaN if untrained), confidence, and the reference's ref_q10..ref_q90 and tail."""
    iv = "iv_crush" in models.boosters
    outputs = booster_predictions(
        models, feature_array(frame, models.features), [*QUANTILE_NAMES, "direction", *(["iv_crush"] if iv else [])]
    )
    model = _model_distribution(models, frame, outputs, None)
    reference = reference_distribution(models, frame)
    out = pd.DataFrame(model.quantiles, columns=list(QUANTILE_NAMES), index=frame.index)
    out["tail_shape"], out["tail_scale"] = model.tail_shape, model.tail_scale
    out["point"] = out["q50"]
    out["p_up"] = outputs["direction"]
    out["iv_crush_ratio"] = outputs["iv_crush"] if iv else np.nan
    out["confidence"] = confidence(out["q10"], out["q50"], out["q90"])
    out[list(REFERENCE_NAMES)] = reference.quantiles
    out["ref_tail_shape"], out["ref_tail_scale"] = reference.tail_shape, reference.tail_scale
    return out


def serving_prior(frame: pd.DataFrame, amc_labels_untrusted: bool, prior: np.ndarray | None = None) -> np.ndarray:
    """The prior trusted moves that choose each served event's widening: an AMC event is widened at least like
    the 1-2 stratum while AMC labels sit on the announcement day (no reaction-day prices to validate on).
    `prior`: the rows' own prior trusted moves, where already read."""
    prior = prior_events(frame) if prior is None else prior
    if not amc_labels_untrusted or "timing" not in frame:
        return prior
    return _amc_capped(prior, frame["timing"].tolist())


def _amc_capped(prior: np.ndarray, timings: Sequence[object]) -> np.ndarray:
    """`prior` with each AMC event's count at most AMC_PRIOR_CAP."""
    amc = np.array([str(timing) == "AMC" for timing in timings], dtype=bool)
    return np.where(amc, np.minimum(prior, AMC_PRIOR_CAP), prior)


def ensemble(
    models: Predictor,
    frame: pd.DataFrame,
    verdicts: Mapping[str, Mapping[str, object]] | None = None,
    *,
    amc_labels_untrusted: bool = True,
) -> list[dict[str, object]]:
    """What serving consumes, one dict per row of `frame` (features as served for the event).

    The move distribution is the model's calibrated one only where its pinball gate held
    (verdicts["move_size"]["skill"]); else the calibrated trusted scaled-history reference (`basis` says which).
    `quantiles` (by level), `tail_shape` and `tail_scale` give the `MoveDistribution`; `point` is its median.
    `p_up` is None when the direction model has no skill, `iv_crush_ratio` None when the IV-crush model was not
    trained or has no skill. `history_stratum` is the stratum of the prior trusted moves (`thin` for 0-2).
    """
    own_level, prior_count = history_columns(frame)
    rows = EnsembleRows(
        x=feature_array(frame, models.features),
        own_level=own_level,
        prior_count=prior_count,
        tickers=frame["ticker"].tolist() if "ticker" in frame.columns else [None] * len(frame),
        timings=frame["timing"].tolist() if "timing" in frame.columns else None,
    )
    return ensemble_rows(models, rows, verdicts, amc_labels_untrusted=amc_labels_untrusted)


def ensemble_one(
    models: Predictor,
    row: Mapping[str, object],
    verdicts: Mapping[str, Mapping[str, object]] | None = None,
    *,
    amc_labels_untrusted: bool = True,
) -> dict[str, object]:
    """`ensemble` of one event given as a dict (column: value) without a frame: exactly `ensemble(models,
    frame)[0]` of the one-row frame whose model features and history columns are float64 columns holding
    these values (`row` must give each model feature, and the history columns where present, as a float)."""
    history = [row.get(name, missing) for name, missing in ((OWN_LEVEL, math.nan), (PRIOR_COUNT, 0.0))]
    values = [row[name] for name in models.features]
    if {*map(type, values), *map(type, history)} != {float}:
        raise TypeError("ensemble_one reads float features only; use ensemble on a frame")
    rows = EnsembleRows(
        x=np.array([values], dtype="float64"),
        own_level=np.array(history[:1], dtype="float64"),
        prior_count=np.array(history[1:], dtype="float64"),
        tickers=[row.get("ticker")],
        timings=[row["timing"]] if "timing" in row else None,
    )
    served = _Served.of(models, verdicts)
    outputs = booster_predictions(models, rows.x, served.names) if served.names else {}
    timing = rows.timings[0] if amc_labels_untrusted and rows.timings is not None else None
    floats = cast(tuple[float, float], (history[0], history[1]))  # checked: both are floats
    one = _one_on_floats(models.move_size, served, outputs, floats, timing)
    if one is not None:
        return {"ticker": rows.tickers[0], **one}
    return _results(models, rows, served, outputs, amc_labels_untrusted)[0]


@dataclass(frozen=True)
class EnsembleRows:
    """What `ensemble` reads of its n rows: the model's features ((n, features) float64, the model's order), the
    history columns (`training.scaling.history_columns`), the tickers and timings (None: no timing column)."""

    x: np.ndarray
    own_level: np.ndarray
    prior_count: np.ndarray
    tickers: list[object]
    timings: list[object] | None


def ensemble_rows(
    models: Predictor,
    rows: EnsembleRows,
    verdicts: Mapping[str, Mapping[str, object]] | None = None,
    *,
    amc_labels_untrusted: bool = True,
) -> list[dict[str, object]]:
    """`ensemble` of the rows' arrays: exactly `ensemble` of a frame whose model features and history columns
    hold these float64 values (serving's batch forecast without a frame)."""
    served = _Served.of(models, verdicts)
    outputs = booster_predictions(models, rows.x, served.names) if served.names else {}  # only the served ones
    return _results(models, rows, served, outputs, amc_labels_untrusted)


@dataclass(frozen=True)
class _Served:
    """Which forecasts `ensemble` serves (the verdicts' skills) and the boosters it predicts for them."""

    move_skill: bool
    use_direction: bool
    use_iv: bool
    names: list[str]

    @classmethod
    def of(cls, models: Predictor, verdicts: Mapping[str, Mapping[str, object]] | None) -> _Served:
        verdicts = verdicts if verdicts is not None else getattr(models, "verdicts", {}) or {}
        move_skill = bool(verdicts.get("move_size", {}).get("skill", False))
        use_direction = bool(verdicts.get("direction", {}).get("skill", False))
        use_iv = "iv_crush" in models.boosters and bool(verdicts.get("iv_crush", {}).get("skill", False))
        names = [*(QUANTILE_NAMES if move_skill else ()), *(["direction"] * use_direction), *(["iv_crush"] * use_iv)]
        return cls(move_skill, use_direction, use_iv, names)


def _results(
    models: Predictor,
    rows: EnsembleRows,
    served: _Served,
    outputs: Mapping[str, np.ndarray],
    amc_labels_untrusted: bool,
) -> list[dict[str, object]]:
    """`ensemble_rows`' dicts from the served boosters' `outputs`."""
    move_skill, use_direction, use_iv = served.move_skill, served.use_direction, served.use_iv
    own = np.where(np.isnan(rows.prior_count), 0.0, rows.prior_count)  # `prior_events`
    prior = own if not amc_labels_untrusted or rows.timings is None else _amc_capped(own, rows.timings)
    move_size = models.move_size
    if move_skill:
        raw = np.column_stack([outputs[name] for name in QUANTILE_NAMES])
        scale = history_level(rows.own_level, rows.prior_count, move_size.scale_mean)
        calibration, uncalibrated = move_size.calibration, rescaled(raw, scale)
    else:
        scale = history_level(rows.own_level, rows.prior_count, move_size.reference.scale_mean)
        calibration, uncalibrated = move_size.reference_calibration, move_size.reference.scaled(scale)
    # what `calibration.distribution(uncalibrated, prior)` reports, without building it
    q, tail_shape, tail_scale = MoveDistribution.parameters(
        calibration.adjust(uncalibrated, prior), calibration.tail_shape, calibration.tail_scale
    )
    n = len(q)
    columns = {
        "ticker": rows.tickers,
        "quantiles": q.tolist(),
        "tail_shape": tail_shape.tolist(),
        "tail_scale": tail_scale.tolist(),
        "p_up": outputs["direction"].tolist() if use_direction else [None] * n,
        "iv_crush_ratio": outputs["iv_crush"].tolist() if use_iv else [None] * n,
        "confidence": confidence(q[:, 0], q[:, 2], q[:, -1]).tolist(),
        "prior_trusted_moves": [int(moves) for moves in own.tolist()],
        "history_stratum": history_stratum(own).tolist(),
    }
    basis = MODEL_BASIS if move_skill else REFERENCE_BASIS
    results = []
    for row in zip(*columns.values(), strict=True):  # one pass over plain lists: no numpy scalar per value
        ticker, quantiles, tail_shape, tail_scale, p_up, iv_ratio, trust, prior_moves, stratum = row
        results.append(
            {
                "ticker": ticker,
                "basis": basis,
                "quantiles": dict(zip(QUANTILE_LEVELS, quantiles, strict=True)),
                "tail_shape": tail_shape,
                "tail_scale": tail_scale,
                "point": quantiles[MEDIAN],
                "p_up": p_up,
                "iv_crush_ratio": iv_ratio,
                "confidence": trust,
                "move_size_skill": move_skill,
                "prior_trusted_moves": prior_moves,
                "history_stratum": str(stratum),
                "thin_history": stratum in THIN_STRATA,
            }
        )
    return results


def _one_on_floats(
    move_size: MoveSizeModel,
    served: _Served,
    outputs: Mapping[str, np.ndarray],
    history: tuple[float, float],
    amc_timing: object,
) -> dict[str, object] | None:
    """`_results` of one row on Python floats (its dict without the ticker): the same IEEE operations in the same
    order as numpy's on the row (`history_level`, `rescaled`, `Calibration.adjust`, `MoveDistribution.parameters`,
    `confidence`, `history_stratum`); the calibrations' multipliers np.exp(shifts) by numpy, as `adjust` makes
    them. None where a value could take another path there (a quantile not positive or NaN: numpy's maximum of
    a zero or a NaN; a tail not given as a Python float; a division by zero): `_results` then.
    `amc_timing`: the row's timing where AMC events are widened (else None)."""
    own_level, prior_count = history
    own = 0.0 if prior_count != prior_count else prior_count  # `prior_events`
    try:
        if served.move_skill:
            scale = _history_level(own_level, prior_count, move_size.scale_mean)
            raw = [outputs[name].item(0) * scale for name in QUANTILE_NAMES]  # `rescaled` (sorted below)
            calibration = move_size.calibration
        else:
            scale = _history_level(own_level, prior_count, move_size.reference.scale_mean)
            raw = [scale * value for value in move_size.reference.shape]  # `ScaledHistory.scaled` (np.outer)
            calibration = move_size.reference_calibration
    except ZeroDivisionError:
        return None
    tail = (calibration.tail_shape, calibration.tail_scale)
    if not all(value > 0.0 for value in raw) or not all(type(value) in (float, int) for value in tail):
        return None
    prior = min(own, float(AMC_PRIOR_CAP)) if str(amc_timing) == "AMC" else own
    quantiles = _shifted(sorted(raw) if served.move_skill else raw, calibration.shifts)
    counts = _nan_to_num(prior)
    for name, shifts in calibration.stratum_shifts.items():  # `Calibration._widen`
        low, high = STRATA[name]
        if low <= counts <= high:
            quantiles = _shifted(quantiles, shifts)
    _, knots, tail_shape, tail_scale = parameter_floats(quantiles, float(tail[0]), float(tail[1]))  # valid: no NaN
    q = knots[1:]
    stratum = history_stratum([own])[0]
    return {
        "basis": MODEL_BASIS if served.move_skill else REFERENCE_BASIS,
        "quantiles": dict(zip(QUANTILE_LEVELS, q, strict=True)),
        "tail_shape": tail_shape,
        "tail_scale": tail_scale,
        "point": q[MEDIAN],
        "p_up": outputs["direction"].item(0) if served.use_direction else None,
        "iv_crush_ratio": outputs["iv_crush"].item(0) if served.use_iv else None,
        "confidence": 1.0 / (1.0 + (q[-1] - q[0]) / q[MEDIAN]),  # q50 > 0 and q90 > q10: `confidence`'s case
        "move_size_skill": served.move_skill,
        "prior_trusted_moves": int(own),
        "history_stratum": str(stratum),
        "thin_history": stratum in THIN_STRATA,
    }


_LARGEST = float(np.finfo("float64").max)


def _nan_to_num(value: float) -> float:
    """`np.nan_to_num` of one float: 0 for NaN, the largest finite float for an infinity (with its sign)."""
    if value != value:
        return 0.0
    return value if abs(value) != math.inf else math.copysign(_LARGEST, value)


def _history_level(own: float, prior_count: float, overall_mean: float) -> float:
    """`training.scaling.history_level` of one event (ZeroDivisionError where numpy would divide by zero)."""
    count = _nan_to_num(prior_count)
    count = 0.0 if own != own or own <= 0 else (count if count <= HISTORY_CAP else float(HISTORY_CAP))
    return (count * _nan_to_num(own) + PRIOR_WEIGHT * overall_mean) / (count + PRIOR_WEIGHT)


def _shifted(quantiles: list[float], shifts: Sequence[float]) -> list[float]:
    """`calibration._shift` of one row: times np.exp(shifts) (numpy's exp, as `_shift` computes it), sorted."""
    return sorted(q * factor for q, factor in zip(quantiles, np.exp(np.asarray(shifts)).tolist(), strict=True))

"""Predictions from trained boosters, the move distribution P(|move| > x), and the ensemble serving consumes.

Move distribution from the five quantiles (q10..q90 of |move|, in %): the CDF is piecewise linear through
(0, 0), (q10, 0.1), (q25, 0.25), (q50, 0.5), (q75, 0.75), (q90, 0.9); beyond q90 the tail is exponential,
P(|move| > x) = 0.1 * exp(-(x - q90) / s), with the scale s set so that an exponential tail through q75 and
q90 fits both: s = (q90 - q75) / ln(0.25 / 0.1).

Confidence (documented for serving): with the relative width of the 80% interval w = (q90 - q10) / q50,
confidence = 1 / (1 + w), in (0, 1]; a narrow interval relative to the median gives high confidence.
A degenerate median (<= 0) gives confidence 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.training.train import feature_matrix

if TYPE_CHECKING:
    import lightgbm as lgb

# P(|move| > q) at each quantile (rounded: 1 - 0.9 is not 0.1 in floating point)
EXCEEDANCE = tuple(round(1 - level, 12) for level in QUANTILE_LEVELS)
TAIL_SCALE_DIVISOR = math.log(EXCEEDANCE[-2] / EXCEEDANCE[-1])
QuantileInput = Mapping[float, float] | Sequence[float] | np.ndarray


class Predictor(Protocol):
    """Trained boosters by name and the features they read: a fresh training run or a registered model."""

    @property
    def boosters(self) -> Mapping[str, lgb.Booster]: ...

    @property
    def features(self) -> Sequence[str]: ...


def _as_array(quantiles: QuantileInput | pd.DataFrame) -> np.ndarray:
    """Quantiles as an (n, 5) array in the order of QUANTILE_LEVELS, sorted per row (non-crossing)."""
    if isinstance(quantiles, pd.DataFrame):
        values = quantiles[list(QUANTILE_NAMES)].to_numpy(dtype="float64")
    elif isinstance(quantiles, Mapping):
        values = np.array([[float(quantiles[q]) for q in QUANTILE_LEVELS]])
    else:
        values = np.atleast_2d(np.asarray(quantiles, dtype="float64"))
    if values.shape[-1] != len(QUANTILE_LEVELS):
        raise ValueError(f"expected {len(QUANTILE_LEVELS)} quantiles {QUANTILE_LEVELS}, got shape {values.shape}")
    return np.sort(np.maximum(values, 0.0), axis=1)


def prob_move_exceeds(
    quantiles: QuantileInput | pd.DataFrame, x: float | Sequence[float] | np.ndarray
) -> float | np.ndarray:
    """P(|move| > x) from the quantiles of |move| (see the module docstring for the tails).

    `quantiles`: a dict {0.1: q10, ..., 0.9: q90}, a sequence of five values, an (n, 5) array or a frame with
    columns q10..q90. `x`: a scalar or one value per row. A scalar for a single distribution and scalar x,
    else an array with one probability per row (or per x).
    """
    q = _as_array(quantiles)
    xs = np.asarray(x, dtype="float64")
    scalar = q.shape[0] == 1 and xs.ndim == 0
    n = max(q.shape[0], xs.size)
    if q.shape[0] == 1:
        q = np.repeat(q, n, axis=0)
    xs = np.broadcast_to(xs.reshape(-1) if xs.ndim else xs, (n,)).astype("float64")
    if q.shape[0] != n:
        raise ValueError(f"{q.shape[0]} distributions for {xs.size} values of x")
    knots = np.concatenate([np.zeros((n, 1)), q], axis=1)  # (n, 6): 0, q10..q90
    out = _exceedance(knots, xs)
    return float(out[0]) if scalar else out


def _exceedance(knots: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """P(|move| > x) per row: knots (n, 6) = 0, q10..q90 (sorted) and one x per row, vectorised."""
    cdf = np.array([0.0, *QUANTILE_LEVELS])
    out = np.full(xs.shape, np.nan)
    valid = ~np.isnan(knots).any(axis=1) & ~np.isnan(xs)
    out[valid & (xs <= 0)] = 1.0
    top, below_top = knots[:, -1], knots[:, -2]
    tail = valid & (xs > 0) & (xs >= top)
    scale = np.maximum((top - below_top) / TAIL_SCALE_DIVISOR, 1e-9)
    out[tail] = EXCEEDANCE[-1] * np.exp(-(xs[tail] - top[tail]) / scale[tail])
    middle = valid & (xs > 0) & ~tail
    rows, x = knots[middle], xs[middle]
    # right-continuous inverse of the piecewise-linear CDF; ties between quantiles jump
    j = (rows <= x[:, None]).sum(axis=1)  # knots[j-1] <= x < knots[j], as searchsorted(side="right")
    lo = np.take_along_axis(rows, (j - 1)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(rows, j[:, None], axis=1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(hi > lo, (x - lo) / (hi - lo), 1.0)
    out[middle] = 1.0 - (cdf[j - 1] + share * (cdf[j] - cdf[j - 1]))
    return out


def exceedance_function(quantiles: QuantileInput) -> Callable[[float], float]:
    """x -> P(|move| > x) for one event, as the strategy layer's `exceeds` expects (scalar or array x)."""
    frozen = {q: float(v) for q, v in zip(QUANTILE_LEVELS, _as_array(quantiles)[0], strict=True)}

    def exceeds(x: float | np.ndarray) -> float | np.ndarray:
        return prob_move_exceeds(frozen, x)

    return exceeds


def confidence(q10: np.ndarray | float, q50: np.ndarray | float, q90: np.ndarray | float) -> np.ndarray:
    """1 / (1 + (q90 - q10) / q50), in [0, 1]; 0 where the median is not positive."""
    q10, q50, q90 = (np.asarray(v, dtype="float64") for v in (q10, q50, q90))
    with np.errstate(divide="ignore", invalid="ignore"):
        width = (q90 - q10) / q50
        value = np.where(q50 > 0, 1.0 / (1.0 + np.maximum(width, 0.0)), 0.0)
    return np.clip(value, 0.0, 1.0)


def predict_frame(models: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """Per row: q10..q90 (non-crossing), point (= q50), p_up, iv_crush_ratio (NaN if untrained), confidence."""
    x = feature_matrix(frame, models.features)
    raw = np.column_stack([models.boosters[name].predict(x) for name in QUANTILE_NAMES])
    q = np.sort(np.maximum(raw, 0.0), axis=1)
    out = pd.DataFrame(q, columns=list(QUANTILE_NAMES), index=frame.index)
    out["point"] = out["q50"]
    out["p_up"] = models.boosters["direction"].predict(x)
    iv = models.boosters.get("iv_crush")
    out["iv_crush_ratio"] = iv.predict(x) if iv is not None else np.nan
    out["confidence"] = confidence(out["q10"], out["q50"], out["q90"])
    return out


def ensemble(
    models: Predictor, frame: pd.DataFrame, verdicts: Mapping[str, Mapping[str, object]] | None = None
) -> list[dict[str, object]]:
    """What serving consumes, one dict per row of `frame` (features as served for the event).

    `p_up` is None when the direction model has no skill (verdicts["direction"]["skill"] is False), and
    `iv_crush_ratio` is None when the IV-crush model was not trained or has no skill.
    """
    verdicts = verdicts if verdicts is not None else getattr(models, "verdicts", {}) or {}
    predictions = predict_frame(models, frame)
    use_direction = bool(verdicts.get("direction", {}).get("skill", False))
    use_iv = "iv_crush" in models.boosters and bool(verdicts.get("iv_crush", {}).get("skill", False))
    results = []
    for index, row in predictions.iterrows():
        quantiles = {q: float(row[name]) for q, name in zip(QUANTILE_LEVELS, QUANTILE_NAMES, strict=True)}
        results.append(
            {
                "ticker": frame.at[index, "ticker"] if "ticker" in frame.columns else None,
                "quantiles": quantiles,
                "point": float(row["point"]),
                "p_up": float(row["p_up"]) if use_direction else None,
                "iv_crush_ratio": float(row["iv_crush_ratio"]) if use_iv else None,
                "confidence": float(row["confidence"]),
                "move_size_skill": bool(verdicts.get("move_size", {}).get("skill", False)),
            }
        )
    return results

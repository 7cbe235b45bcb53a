"""Calibration of the move-size quantiles, fitted at every training on the training window alone.

The training window's most recent slice (`CALIBRATION_SHARE` of its labelled rows by decision time) is
forecast by a model trained only on the outcomes known before that slice began (`calibration_split`); these
out-of-fold forecasts and the realised moves give, in time order:

1. **Conformal shifts** (split-conformal, one-sided per quantile, multiplicative): for level tau the score
   of an event is s = log(y / q_tau); the shift c_tau is its conformal tau-quantile over the slice (order
   statistic floor((n + 1) tau) below the median, ceil((n + 1) tau) above). At predict time
   q_tau -> q_tau exp(c_tau), then the row is made non-crossing. Recent, because the miscalibration drifts.
2. **Thin-history widening** (Mondrian by prior trusted moves, `hm_prior_events`): events with 0 or 1-2
   prior trusted moves get their stratum's own conformal shifts on top, computed on the slice's events of
   that stratum after step 1, shrunk towards 0 by n / (n + `STRATUM_SHRINKAGE`), and only widening (the
   upper quantiles move up, the lower ones down, the median either way).
3. **Tail**: the exceedances of the realised move over the calibrated q90, in units of q90,
   z = (y - q90) / q90 for y > q90, get a generalized Pareto fit (maximum likelihood on a grid,
   0 <= xi <= `MAX_TAIL_SHAPE`); fewer than `MIN_EXCEEDANCES` exceedances keep the default tail.

`Calibration` is plain numbers (JSON with the model) and applies to any model's quantiles at predict time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.training.distribution import (
    DEFAULT_TAIL_SCALE,
    DEFAULT_TAIL_SHAPE,
    MAX_TAIL_SHAPE,
    MoveDistribution,
)

CALIBRATION_SHARE = 0.25
MIN_CALIBRATION_ROWS = 40
STRATA: dict[str, tuple[float, float]] = {"0": (0, 0), "1-2": (1, 2), "3-5": (3, 5), "6+": (6, math.inf)}
THIN_STRATA = ("0", "1-2")
STRATUM_SHRINKAGE = 30.0
MIN_EXCEEDANCES = 15
MOVE_FLOOR = 0.01  # % : a zero move scores as this (log scores)


def history_stratum(prior_events: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """The prior-trusted-history stratum of each event: "0", "1-2", "3-5" or "6+" (missing counts as 0)."""
    count = np.nan_to_num(np.asarray(prior_events, dtype="float64"), nan=0.0)
    out = np.empty(count.shape, dtype=object)
    for name, (low, high) in STRATA.items():
        out[(count >= low) & (count <= high)] = name
    return out


def calibration_split(
    decided_at: pd.Series, known_at: pd.Series, share: float = CALIBRATION_SHARE
) -> tuple[pd.Series, pd.Series]:
    """(fit, calibrate) masks over a training window's labelled rows: `calibrate` is the latest `share` of
    them by decision time, `fit` every row whose outcome was known strictly before the first of those."""
    decided = pd.to_datetime(decided_at, utc=True)
    known = pd.to_datetime(known_at, utc=True)
    order = decided.sort_values(kind="mergesort")
    first = order.iloc[min(len(order) - 1, int(len(order) * (1 - share)))]
    return known < first, decided >= first


def conformal_shift(scores: np.ndarray, level: float) -> float:
    """Split-conformal shift of one quantile: the order statistic of the scores that keeps the share below
    the adjusted quantile at `level` (conservatively outward: floor below the median, ceil above)."""
    scores = np.sort(np.asarray(scores, dtype="float64"))
    n = len(scores)
    if n == 0:
        return 0.0
    rank = (n + 1) * level
    k = math.floor(rank) if level < 0.5 else math.ceil(rank) if level > 0.5 else rank
    if level == 0.5:
        return float(np.median(scores))
    return float(scores[int(np.clip(k, 1, n)) - 1])


def _scores(y: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(y, MOVE_FLOOR))[:, None] - np.log(np.maximum(quantiles, MOVE_FLOOR))


def _shift(quantiles: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    return np.sort(quantiles * np.exp(shifts), axis=-1)


def _gpd_loglik(z: np.ndarray, shapes: np.ndarray, log_scales: np.ndarray) -> np.ndarray:
    """Log-likelihood of the excesses z on a grid (scale x shape)."""
    sigma = np.exp(log_scales)[:, None, None]
    xi = shapes[None, :, None]
    ratio = z[None, None, :] / sigma
    safe = np.where(xi > 0, xi, 1.0)
    log_term = np.where(xi > 0, (1 + 1 / safe) * np.log1p(safe * ratio), ratio)
    return -len(z) * np.log(sigma[:, :, 0]) - log_term.sum(axis=2)


def fit_tail(exceedances: np.ndarray) -> tuple[float, float]:
    """Generalized Pareto (xi, sigma) of excesses z > 0 by maximum likelihood, 0 <= xi <= `MAX_TAIL_SHAPE`:
    a coarse grid, then a fine one around its best point (deterministic, no optimiser)."""
    z = np.asarray(exceedances, dtype="float64")
    z = z[np.isfinite(z) & (z > 0)]
    if len(z) < MIN_EXCEEDANCES:
        return DEFAULT_TAIL_SHAPE, DEFAULT_TAIL_SCALE
    shapes, log_scales = np.linspace(0.0, MAX_TAIL_SHAPE, 19), np.linspace(math.log(0.02), math.log(5.0), 56)
    for _ in range(2):
        loglik = _gpd_loglik(z, shapes, log_scales)
        i, j = np.unravel_index(np.argmax(loglik), loglik.shape)
        shape_step, scale_step = shapes[1] - shapes[0], log_scales[1] - log_scales[0]
        best_shape, best_log_scale = shapes[j], log_scales[i]
        shapes = np.clip(np.linspace(best_shape - shape_step, best_shape + shape_step, 21), 0.0, MAX_TAIL_SHAPE)
        log_scales = np.linspace(best_log_scale - scale_step, best_log_scale + scale_step, 21)
    return round(float(best_shape), 4), round(float(math.exp(best_log_scale)), 4)


@dataclass
class Calibration:
    """Conformal shifts (log multipliers per quantile), thin-stratum shifts and the fitted tail."""

    shifts: list[float] = field(default_factory=lambda: [0.0] * len(QUANTILE_LEVELS))
    stratum_shifts: dict[str, list[float]] = field(default_factory=dict)
    tail_shape: float = DEFAULT_TAIL_SHAPE
    tail_scale: float = DEFAULT_TAIL_SCALE
    fitted_on: dict[str, object] = field(default_factory=dict)

    def adjust(self, quantiles: np.ndarray, prior_events: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
        """The calibrated (n, 5) quantiles: global shifts, then the thin strata's widening."""
        q = _shift(np.atleast_2d(np.asarray(quantiles, dtype="float64")), np.asarray(self.shifts))
        if prior_events is None or not self.stratum_shifts:
            return q
        strata = history_stratum(prior_events)
        for name, shifts in self.stratum_shifts.items():
            rows = strata == name
            q[rows] = _shift(q[rows], np.asarray(shifts))
        return q

    def distribution(
        self, quantiles: np.ndarray, prior_events: Sequence[float] | np.ndarray | None = None
    ) -> MoveDistribution:
        """The calibrated forecast distribution of each row."""
        return MoveDistribution(self.adjust(quantiles, prior_events), self.tail_shape, self.tail_scale)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Calibration:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})  # type: ignore[arg-type]


def _widening(shifts: np.ndarray) -> np.ndarray:
    """Only widen: lower quantiles may move down, upper ones up, the median either way."""
    levels = np.asarray(QUANTILE_LEVELS)
    return np.where(levels < 0.5, np.minimum(shifts, 0.0), np.where(levels > 0.5, np.maximum(shifts, 0.0), shifts))


def fit_calibration(
    quantiles: np.ndarray,
    y: np.ndarray,
    prior_events: Sequence[float] | np.ndarray | None = None,
    *,
    thin_strata: Sequence[str] = THIN_STRATA,
    shrinkage: float = STRATUM_SHRINKAGE,
) -> Calibration:
    """Calibration from out-of-fold (n, 5) quantiles and realised moves `y` of the calibration slice."""
    q = np.sort(np.asarray(quantiles, dtype="float64"), axis=1)
    y = np.asarray(y, dtype="float64")
    keep = ~np.isnan(q).any(axis=1) & ~np.isnan(y)
    q, y = q[keep], y[keep]
    if len(y) < MIN_CALIBRATION_ROWS:
        return Calibration(fitted_on={"rows": len(y), "note": f"fewer than {MIN_CALIBRATION_ROWS} rows"})
    scores = _scores(y, q)
    shifts = np.array([conformal_shift(scores[:, j], level) for j, level in enumerate(QUANTILE_LEVELS)])
    calibration = Calibration(shifts=shifts.round(6).tolist())
    strata_rows: dict[str, int] = {}
    if prior_events is not None:
        strata = history_stratum(np.asarray(prior_events, dtype="float64")[keep])
        adjusted = calibration.adjust(q)
        for name in thin_strata:
            rows = strata == name
            strata_rows[name] = int(rows.sum())
            if not rows.any():
                continue
            local = _scores(y[rows], adjusted[rows])
            raw = np.array([conformal_shift(local[:, j], level) for j, level in enumerate(QUANTILE_LEVELS)])
            weight = rows.sum() / (rows.sum() + shrinkage)
            calibration.stratum_shifts[name] = (_widening(raw) * weight).round(6).tolist()
        q_final = calibration.adjust(q, np.asarray(prior_events, dtype="float64")[keep])
    else:
        q_final = calibration.adjust(q)
    top = q_final[:, -1]
    over = y > top
    calibration.tail_shape, calibration.tail_scale = fit_tail((y[over] - top[over]) / top[over])
    calibration.fitted_on = {
        "rows": len(y),
        "exceedances": int(over.sum()),
        "thin_stratum_rows": strata_rows,
        "tail": "fitted" if over.sum() >= MIN_EXCEEDANCES else f"default: fewer than {MIN_EXCEEDANCES} exceedances",
    }
    return calibration

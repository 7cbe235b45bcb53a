"""The calibration fit made cheaper (one sort per score matrix, strata as masks, one global shift, the tail's
zero shapes without log1p, repeated excesses remembered) gives the very numbers of the plain implementation it
replaced, kept here as the oracle: every shift, stratum shift and tail bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.training.calibration import (
    MIN_EXCEEDANCES,
    MOVE_FLOOR,
    POOLED_WEIGHT,
    STRATA,
    STRATUM_SHRINKAGE,
    THIN_STRATA,
    fit_calibration,
    fit_tail,
)
from ivcrush.training.distribution import DEFAULT_TAIL_SCALE, DEFAULT_TAIL_SHAPE
from ivcrush.training.distribution_floats import MAX_TAIL_SHAPE

LEVELS = np.asarray(QUANTILE_LEVELS)


# --- the oracle: the implementation before it was made cheaper ------------------------------------------------
def _old_stratum(prior: np.ndarray) -> np.ndarray:
    count = np.nan_to_num(np.asarray(prior, dtype="float64"), nan=0.0)
    out = np.empty(count.shape, dtype=object)
    for name, (low, high) in STRATA.items():
        out[(count >= low) & (count <= high)] = name
    return out


def _old_conformal_shift(scores: np.ndarray, level: float) -> float:
    scores = np.sort(np.asarray(scores, dtype="float64"))
    if len(scores) == 0:
        return 0.0
    k = int(np.clip(round((len(scores) + 1) * level), 1, len(scores)))
    return float(scores[k - 1])


def _old_scores(y: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(y, MOVE_FLOOR))[:, None] - np.log(np.maximum(q, MOVE_FLOOR))


def _old_interval_shifts(scores: np.ndarray) -> np.ndarray:
    shifts = np.zeros(len(LEVELS))
    for low in range(len(LEVELS) // 2):
        high = len(LEVELS) - 1 - low
        c = _old_conformal_shift(np.maximum(-scores[:, low], scores[:, high]), LEVELS[high] - LEVELS[low])
        shifts[low], shifts[high] = -c, c
    return shifts


def _old_quantile_shifts(scores: np.ndarray) -> np.ndarray:
    return np.array([_old_conformal_shift(scores[:, j], lv) if lv != 0.5 else 0.0 for j, lv in enumerate(LEVELS)])


def _old_shift(q: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    return np.sort(q * np.exp(shifts), axis=-1)


def _old_adjust(q: np.ndarray, shifts: list[float], strata_shifts: dict, prior: np.ndarray | None) -> np.ndarray:
    q = _old_shift(np.atleast_2d(q), np.asarray(shifts))
    if prior is None or not strata_shifts:
        return q
    strata = _old_stratum(prior)
    for name, local in strata_shifts.items():
        rows = strata == name
        q[rows] = _old_shift(q[rows], np.asarray(local))
    return q


def _old_loglik(z: np.ndarray, shapes: np.ndarray, log_scales: np.ndarray) -> np.ndarray:
    sigma, xi = np.exp(log_scales)[:, None, None], shapes[None, :, None]
    ratio = z[None, None, :] / sigma
    safe = np.where(xi > 0, xi, 1.0)
    terms = np.where(xi > 0, (1 + 1 / safe) * np.log1p(safe * ratio), ratio)
    return -len(z) * np.log(sigma[:, :, 0]) - terms.sum(axis=2)


def _old_fit_tail(exceedances: np.ndarray) -> tuple[float, float]:
    z = np.asarray(exceedances, dtype="float64")
    z = z[np.isfinite(z) & (z > 0)]
    if len(z) < MIN_EXCEEDANCES:
        return DEFAULT_TAIL_SHAPE, DEFAULT_TAIL_SCALE
    shapes, log_scales = np.linspace(0.0, MAX_TAIL_SHAPE, 19), np.linspace(math.log(0.02), math.log(5.0), 56)
    for _ in range(2):
        loglik = _old_loglik(z, shapes, log_scales)
        i, j = np.unravel_index(np.argmax(loglik), loglik.shape)
        shape_step, scale_step = shapes[1] - shapes[0], log_scales[1] - log_scales[0]
        best_shape, best_log_scale = shapes[j], log_scales[i]
        shapes = np.clip(np.linspace(best_shape - shape_step, best_shape + shape_step, 21), 0.0, MAX_TAIL_SHAPE)
        log_scales = np.linspace(best_log_scale - scale_step, best_log_scale + scale_step, 21)
    return round(float(best_shape), 4), round(float(math.exp(best_log_scale)), 4)


def _old_fit(q: np.ndarray, y: np.ndarray, prior: np.ndarray | None, recent: np.ndarray | None) -> dict:
    """`fit_calibration`'s numbers as the former implementation computed them (its fitted_on included)."""
    q = np.sort(np.asarray(q, dtype="float64"), axis=1)
    y = np.asarray(y, dtype="float64")
    keep = ~np.isnan(q).any(axis=1) & ~np.isnan(y)
    q, y = q[keep], y[keep]
    scores = _old_scores(y, q)
    latest = np.ones(len(y), dtype=bool) if recent is None else np.asarray(recent, dtype=bool)[keep]
    recent_shifts, pooled_shifts = _old_quantile_shifts(scores[latest]), _old_quantile_shifts(scores)
    recent_weight = latest.sum() / (latest.sum() + POOLED_WEIGHT)
    shifts = (recent_weight * recent_shifts + (1 - recent_weight) * pooled_shifts).round(6).tolist()
    strata_shifts: dict[str, list[float]] = {}
    strata_rows: dict[str, int] = {}
    kept_prior = None if prior is None else np.asarray(prior, dtype="float64")[keep]
    if kept_prior is not None:
        strata = _old_stratum(kept_prior)
        adjusted = _old_adjust(q, shifts, {}, None)
        for name in THIN_STRATA:
            rows = strata == name
            strata_rows[name] = int(rows.sum())
            if not rows.any():
                continue
            local = _old_interval_shifts(_old_scores(y[rows], adjusted[rows]))
            widen = local * (LEVELS - 0.5) > 0
            weight = rows.sum() / (rows.sum() + STRATUM_SHRINKAGE)
            strata_shifts[name] = (local * widen * weight + 0.0).round(6).tolist()
    top = _old_adjust(q, shifts, strata_shifts, kept_prior)[:, -1]
    over = y > top
    shape, scale = _old_fit_tail((y[over] - top[over]) / top[over])
    return {
        "shifts": shifts,
        "stratum_shifts": strata_shifts,
        "tail_shape": shape,
        "tail_scale": scale,
        "recent_shifts": recent_shifts.round(6).tolist(),
        "pooled_shifts": pooled_shifts.round(6).tolist(),
        "exceedances": int(over.sum()),
        "thin_stratum_rows": strata_rows,
    }


# --- the comparison ----------------------------------------------------------------------------------------------
def _sample(n: int, seed: int, with_prior: bool, with_recent: bool):
    """Forecasts of varying spread and bias, moves with zeros, ties and NaNs, prior counts with NaNs."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 8.0, n)
    width = rng.uniform(0.2, 1.2)
    q = scale[:, None] * np.exp(width * np.array([-1.28, -0.67, 0.0, 0.67, 1.28]) + rng.normal(0, 0.3, (n, 1)))
    q[rng.uniform(size=n) < 0.05, rng.integers(0, 5)] = np.nan
    y = np.round(scale * np.exp(rng.uniform(0.3, 1.5) * rng.standard_normal(n)), int(rng.integers(1, 4)))
    y[rng.uniform(size=n) < 0.05] = 0.0
    y[rng.uniform(size=n) < 0.05] = np.nan
    prior = rng.integers(0, 10, n).astype("float64")
    prior[rng.uniform(size=n) < 0.1] = np.nan
    recent = np.arange(n) >= n - int(rng.integers(0, n + 1))
    return q, y, prior if with_prior else None, recent if with_recent else None


def _numbers(calibration) -> dict:
    fitted = calibration.fitted_on
    kept = ("recent_shifts", "pooled_shifts", "exceedances", "thin_stratum_rows")
    return {
        "shifts": calibration.shifts,
        "stratum_shifts": calibration.stratum_shifts,
        "tail_shape": calibration.tail_shape,
        "tail_scale": calibration.tail_scale,
        **{key: fitted[key] for key in kept},
    }


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(60, 900),
    seed=st.integers(0, 2**32 - 1),
    with_prior=st.booleans(),
    with_recent=st.booleans(),
)
def test_fit_calibration_equals_the_former_implementation_bit_for_bit(n, seed, with_prior, with_recent) -> None:
    q, y, prior, recent = _sample(n, seed, with_prior, with_recent)
    new = _numbers(fit_calibration(q, y, prior, recent=recent))
    old = _old_fit(q, y, prior, recent)
    assert repr(new) == repr(old)  # repr: floats compared by their digits, -0.0 apart from 0.0


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(MIN_EXCEEDANCES - 1, 400),
    tail=st.floats(0.3, 60.0),
    scale=st.floats(0.005, 50.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_fit_tail_equals_the_former_grid_search_bit_for_bit(m, tail, scale, seed) -> None:
    z = np.random.default_rng(seed).pareto(tail, m) * scale
    assert repr(fit_tail(z)) == repr(_old_fit_tail(z))
    assert repr(fit_tail(z.copy())) == repr(_old_fit_tail(z))  # remembered: the same answer again

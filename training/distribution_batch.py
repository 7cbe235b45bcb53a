"""The numpy parts of `distribution.MoveDistribution` for n events at once: its parameters (valid rows, knots,
tail shapes and scales) from the quantiles, and the generalized Pareto tail's log-space helpers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.training.distribution_floats import MAX_TAIL_SHAPE, MIN_Q90, MIN_TAIL_SCALE, TIE_GAP, parameters_one


def _as_batch(value: float | Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(value, dtype="float64")
    return np.broadcast_to(array, (n,)).copy() if array.ndim <= 1 else array.reshape(n)


def batch_parameters(
    quantiles: Sequence[float] | np.ndarray,
    tail_shape: float | Sequence[float] | np.ndarray,
    tail_scale: float | Sequence[float] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which rows are valid, the knots (n, 6): 0, q10, ..., q90 (strictly increasing), the tail shapes and
    scales (bounded) of a `MoveDistribution`."""
    q = np.atleast_2d(np.asarray(quantiles, dtype="float64"))
    if q.ndim != 2 or q.shape[1] != len(QUANTILE_LEVELS):
        raise ValueError(f"expected (n, {len(QUANTILE_LEVELS)}) quantiles {QUANTILE_LEVELS}, got {q.shape}")
    n = q.shape[0]
    if n == 1 and type(tail_shape) in (float, int) and type(tail_scale) in (float, int):
        return parameters_one(q[0].tolist(), float(tail_shape), float(tail_scale))  # type: ignore[arg-type]
    valid = ~np.isnan(q).any(axis=1)
    q = np.where(valid[:, None], q, 1.0)  # placeholders, reported as NaN
    q = np.maximum.accumulate(np.maximum(q, 0.0), axis=1)  # non-crossing, non-negative
    gap = TIE_GAP * np.maximum(q[:, -1], MIN_Q90)
    knots = np.zeros((n, q.shape[1] + 1))
    for j in range(q.shape[1]):  # strictly increasing from 0
        knots[:, j + 1] = np.maximum(q[:, j], knots[:, j] + gap)
    shape = np.clip(_as_batch(tail_shape, n), 0.0, MAX_TAIL_SHAPE)
    return valid, knots, shape, np.maximum(_as_batch(tail_scale, n), MIN_TAIL_SCALE)


SMALL_SHAPE = 1e-9  # a tail shape below it in size is the exponential limit (xi = 0)


def log1p_over(xi: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log(1 + xi z) / xi, and z at xi = 0 (the exponential limit)."""
    small = np.abs(xi) < SMALL_SHAPE
    safe = np.where(small, 1.0, xi)
    return np.where(small, z, np.log1p(safe * z) / safe)


def log_gpd_inverse(log_ratio: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """The standard GPD excess z whose survival is exp(-log_ratio): (exp(xi log_ratio) - 1) / xi."""
    small = np.abs(xi) < SMALL_SHAPE
    safe = np.where(small, 1.0, xi)
    return np.where(small, log_ratio, np.expm1(safe * log_ratio) / safe)


def log_gpd_inverse_one(log_ratio: np.ndarray, xi: float) -> np.ndarray:
    """`log_gpd_inverse` of one event's shape `xi` (the same floats, without the masks)."""
    return log_ratio if abs(xi) < SMALL_SHAPE else np.expm1(xi * log_ratio) / xi

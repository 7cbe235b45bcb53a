"""`MoveDistribution`'s bounds, and the numbers building one event's distribution computed on Python floats:
the same IEEE operations in the same order as the arrays of many events, so the same floats, without numpy's
calls on five or six numbers (a request's first forecast builds one)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ivcrush.constants import QUANTILE_LEVELS

LEVELS = np.array([0.0, *QUANTILE_LEVELS])  # the CDF at the knots 0, q10, ..., q90
TAIL_MASS = 1.0 - QUANTILE_LEVELS[-1]  # P(|X| > q90) = 0.1
MAX_TAIL_SHAPE = 0.9
MIN_TAIL_SCALE = 1e-3
TIE_GAP = 1e-6
MIN_Q90 = 1e-6
_LEVEL_RISES = np.diff(LEVELS).tolist()  # the CDF's rise over each body segment
_LEVEL_MIDS = ((LEVELS[:-1] + LEVELS[1:]) / 2).tolist()


def parameters_one(
    quantiles: list[float], tail_shape: float, tail_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`distribution_batch.batch_parameters` of one event on Python floats (numpy's maximum and clip element by
    element: the same floats; where a zero's sign could differ it is under a knot at least the gap above it, or is
    the clip's)."""
    valid, knots, shape, scale = parameter_floats(quantiles, tail_shape, tail_scale)
    return np.array([valid]), np.array([knots]), np.array([shape]), np.array([scale])


def parameter_floats(
    quantiles: list[float], tail_shape: float, tail_scale: float
) -> tuple[bool, list[float], float, float]:
    """`parameters_one` as Python values: whether valid, the knots, the tail's shape and scale."""
    valid = not any(value != value for value in quantiles)  # no NaN
    knots, running, knot = [0.0], 0.0, 0.0
    for j, value in enumerate(quantiles if valid else [1.0] * len(quantiles)):
        value = value if value >= 0.0 else 0.0
        running = value if j == 0 or value > running else running  # non-crossing
        knots.append(running)
    q90 = knots[-1]
    gap = TIE_GAP * (q90 if q90 >= MIN_Q90 else MIN_Q90)
    for j in range(1, len(knots)):  # strictly increasing from 0
        knot = knots[j] if knots[j] >= knot + gap else knot + gap
        knots[j] = knot
    shape = min(max(tail_shape, 0.0), MAX_TAIL_SHAPE)  # NaN stays NaN, -0.0 stays -0.0: as np.clip
    scale = tail_scale if tail_scale >= MIN_TAIL_SCALE or tail_scale != tail_scale else MIN_TAIL_SCALE
    return valid, knots, shape, scale


def slopes_and_cum_sf_one(knots: list[float], tail_scale: float) -> tuple[np.ndarray, np.ndarray] | None:
    """One event's `_pchip_slopes` and integrals of the exceedance up to each knot (`MoveDistribution`'s
    arrays, (1, 6)) on Python floats: the same operations in the same order (np.clip as max then min, cumsum
    in order). None where a segment is not of a finite positive width (numpy's division by zero: use it)."""
    h = [high - low for low, high in itertools.pairwise(knots)]
    if not all(0.0 < width < math.inf for width in h):
        return None
    secant = [rise / width for rise, width in zip(_LEVEL_RISES, h, strict=True)]
    slopes = [((2 * h[0] + h[1]) * secant[0] - h[0] * secant[1]) / (h[0] + h[1])]
    slopes[0] = min(max(slopes[0], 0.0), 3 * secant[0])
    for j in range(len(h) - 1):
        w1, w2 = 2 * h[j + 1] + h[j], h[j + 1] + 2 * h[j]
        slopes.append((w1 + w2) / (w1 / secant[j] + w2 / secant[j + 1]))
    slopes.append(min(max(TAIL_MASS / (tail_scale * knots[-1]), 0.0), 3 * secant[-1]))
    cum_sf, total = [0.0], 0.0
    for j, width in enumerate(h):
        integral = width * (_LEVEL_MIDS[j] + width * (slopes[j] - slopes[j + 1]) / 12)
        total = width - integral if j == 0 else total + (width - integral)
        cum_sf.append(total)
    return np.array([slopes]), np.array([cum_sf])

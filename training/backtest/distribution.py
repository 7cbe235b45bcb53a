"""The forecast distribution the backtests trade on: P(|move| > x) and E|move| from the quantiles q10..q90.

Between the knots (0, 1), (q10, .9), (q25, .75), (q50, .5), (q75, .25), (q90, .1) the exceedance is linear (a
piecewise-linear CDF); beyond q90 it decays exponentially at the rate that takes it from 0.5 at the median to
0.1 at q90.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES

# P(|move| > x) at x = 0, q10, ..., q90 (rounded: 1 - 0.9 is not 0.1 in floating point)
_EXCEED = np.array([1.0, *(round(1 - level, 12) for level in QUANTILE_LEVELS)])
_MEDIAN = 1 + QUANTILE_LEVELS.index(0.5)  # the median's knot
_TAIL_DECAY = math.log(_EXCEED[_MEDIAN] / _EXCEED[-1])  # ln 5: from 0.5 at the median to 0.1 at q90


def _knots(q: Sequence[float]) -> np.ndarray:
    """0 followed by the quantiles made non-decreasing (a crossing forecast is repaired, not trusted)."""
    return np.maximum.accumulate(np.concatenate([[0.0], np.maximum(np.asarray(q, dtype=float), 0.0)]))


def prob_exceeds(row_quantiles: pd.Series | dict[str, float], x: float) -> float:
    """P(|move| > x) of a forecast given by its quantiles q10..q90 of |move| (in %).

    Between the knots (0, 1), (q10, .9), (q25, .75), (q50, .5), (q75, .25), (q90, .1) the exceedance is
    linear (a piecewise-linear CDF); beyond q90 it decays exponentially, 0.1 * exp(-(x - q90) / s), with
    s = (q90 - q50) / ln 5: the decay rate that takes the exceedance from 0.5 at the median to 0.1 at q90
    continues into the tail. A degenerate forecast (q90 == q50) has no tail beyond q90.
    """
    knots = _knots([row_quantiles[name] for name in QUANTILE_NAMES])
    if x <= 0:
        return 1.0
    q50, q90 = knots[_MEDIAN], knots[-1]
    if x >= q90:
        scale = (q90 - q50) / _TAIL_DECAY
        return _EXCEED[-1] * math.exp(-(x - q90) / scale) if scale > 0 else 0.0
    # np.interp needs strictly increasing knots: of equal knots keep the last (the lower exceedance)
    keep = np.concatenate([knots[1:] > knots[:-1], [True]])
    return float(np.interp(x, knots[keep], _EXCEED[keep]))


def forecast_mean(row_quantiles: pd.Series | dict[str, float]) -> float:
    """E|move| under the `prob_exceeds` distribution: the integral of the exceedance from 0 to infinity."""
    knots = _knots([row_quantiles[name] for name in QUANTILE_NAMES])
    body = float(np.sum(np.diff(knots) * (_EXCEED[:-1] + _EXCEED[1:]) / 2))
    return body + _EXCEED[-1] * (knots[-1] - knots[_MEDIAN]) / _TAIL_DECAY

"""A one-event `MoveDistribution` at a few points, as a single decision asks for it: its exceedance, CDF,
exceedance integral, mean and q99 on Python floats (the knots, slopes and tail read once per distribution object), each
element the very float operations of `MoveDistribution.sf` / `cdf` / `expected_excess`, in the same order, the
logarithms, exponentials and powers by numpy on arrays of the points that need them (as the distribution's
own calls compute them). NaN distributions are left to `MoveDistribution` (`one_event` gives None)."""

from __future__ import annotations

import math
import weakref
from bisect import bisect_right
from functools import cached_property

import numpy as np

from ivcrush.training.distribution import LEVELS, TAIL_MASS, MoveDistribution
from ivcrush.training.distribution_batch import SMALL_SHAPE, log_gpd_inverse_one

_LEVELS = LEVELS.tolist()
STRESS_LEVEL = 0.99  # the stress loss's quantile of |move|
_STRESS_LOG_RATIO = np.log(np.array([TAIL_MASS / max(1.0 - STRESS_LEVEL, 1e-300)]))  # `ppf`'s at that level
_STRESS_LOG_RATIO.flags.writeable = False


class OneEvent:
    """One event's distribution as Python floats: knots 0, q10..q90, the CDF's slopes there, the integrated
    exceedance up to each knot, the tail's shape and scale (xi, sigma q90)."""

    def __init__(self, distribution: MoveDistribution) -> None:
        self.knots: list[float] = distribution.knots[0].tolist()
        self.slopes: list[float] = distribution._slopes[0].tolist()
        self.cum_sf: list[float] = distribution._cum_sf[0].tolist()
        self.q90 = self.knots[-1]
        self.xi = float(distribution.tail_shape[0])
        self.scale = float(distribution.tail_scale[0] * distribution.knots[0, -1])
        self.quantiles = self.knots[1:]
        self.excess_q90 = self._tail_excess([self.q90])[0]

    @cached_property
    def mean(self) -> float:
        """`distribution.mean()`: E|X|, the exceedance integral from 0."""
        return self.expected_excess([0.0])[0]

    @cached_property
    def q99(self) -> float:
        """`distribution.ppf(0.99)`, the stress move (in the tail: q90 + sigma q90 x the GPD's inverse)."""
        log_ratio = _STRESS_LOG_RATIO
        excess = log_gpd_inverse_one(log_ratio, self.xi)
        return self.q90 + self.scale * float(excess[0])

    def sf(self, xs: list[float]) -> list[float]:
        """`distribution.sf(np.array(xs)).tolist()`."""
        out = [1.0 if x <= 0 or x > self.q90 else 1.0 - self._cdf_body(x) for x in xs]
        tail = [i for i, x in enumerate(xs) if x > self.q90]
        if tail:
            z = [(xs[i] - self.q90) / self.scale for i in tail]
            values = (TAIL_MASS * np.exp(-self._log1p_over(z))).tolist()
            for i, value in zip(tail, values, strict=True):
                out[i] = value
        return [math.nan if math.isnan(x) else value for x, value in zip(xs, out, strict=True)]

    def cdf(self, xs: list[float]) -> list[float]:
        """`distribution.cdf(np.array(xs)).tolist()`."""
        return [1.0 - value for value in self.sf(xs)]

    def expected_excess(self, ks: list[float]) -> list[float]:
        """`distribution.expected_excess(np.array(ks)).tolist()`: E[(|X| - k)+] of each k."""
        out = [0.0] * len(ks)
        tail = [i for i, k in enumerate(ks) if k >= self.q90]
        for i, value in zip(tail, self._tail_excess([ks[i] for i in tail]), strict=True):
            out[i] = value
        body = [i for i, k in enumerate(ks) if not k >= self.q90]
        if body:
            segments = [self._segment(max(ks[i], 0.0)) for i in body]
            t = np.array([t for _, t, _ in segments])
            powers = zip((t**3).tolist(), (t**4).tolist(), strict=True)
            for i, (j, t_, h), (t3, t4) in zip(body, segments, powers, strict=True):
                out[i] = self._body_excess(ks[i], j, t_, h, t3, t4)
        return [math.nan if math.isnan(k) else value for k, value in zip(ks, out, strict=True)]

    def _segment(self, x: float) -> tuple[int, float, float]:
        """`MoveDistribution._segment` of one x: its segment j, position t in it and width h."""
        knots = self.knots
        # the count of inner knots <= x (strictly increasing knots; a NaN x's answer is NaN whatever j is)
        j = bisect_right(knots, x, 1, len(knots) - 1) - 1
        lo = knots[j]
        h = knots[j + 1] - lo
        return j, min(max((x - lo) / h, 0.0), 1.0), h

    def _cdf_body(self, x: float) -> float:
        """`training.hermite.hermite` at x's segment (the body's CDF)."""
        j, t, h = self._segment(x)
        level0, level1, m0, m1 = _LEVELS[j], _LEVELS[j + 1], self.slopes[j], self.slopes[j + 1]
        t2, t3 = t * t, t * t * t
        return (
            (2 * t3 - 3 * t2 + 1) * level0
            + (t3 - 2 * t2 + t) * h * m0
            + (-2 * t3 + 3 * t2) * level1
            + (t3 - t2) * h * m1
        )

    def _body_excess(self, k: float, j: int, t: float, h: float, t3: float, t4: float) -> float:
        """`MoveDistribution._excess` of a k below q90 (t3, t4: t**3, t**4 as numpy gives them)."""
        level0, level1, m0, m1 = _LEVELS[j], _LEVELS[j + 1], self.slopes[j], self.slopes[j + 1]
        t2 = t * t
        cdf_integral = h * (
            (t4 / 2 - t3 + t) * level0
            + (t4 / 4 - 2 * t3 / 3 + t2 / 2) * h * m0
            + (-t4 / 2 + t3) * level1
            + (t4 / 4 - t3 / 3) * h * m1
        )
        up_to_k = self.cum_sf[j] + t * h - cdf_integral
        return self.cum_sf[-1] - up_to_k + self.excess_q90 + max(-k, 0.0)

    def _tail_excess(self, xs: list[float]) -> list[float]:
        """`MoveDistribution._tail_excess`: int_x^inf P(|X| > u) du of each x at or beyond q90."""
        if not xs:
            return []
        z = [(x - self.q90) / self.scale for x in xs]
        exponent = -(1 - self.xi) * self._log1p_over(z)
        return (TAIL_MASS * self.scale / (1 - self.xi) * np.exp(exponent)).tolist()

    def _log1p_over(self, z: list[float]) -> np.ndarray:
        """`distribution_batch.log1p_over(xi, z)`: log(1 + xi z) / xi, z itself at xi ~ 0 (an array)."""
        if abs(self.xi) < SMALL_SHAPE:
            return np.array(z)
        return np.log1p(self.xi * np.array(z)) / self.xi


_EVENTS: weakref.WeakKeyDictionary[MoveDistribution, OneEvent | None] = weakref.WeakKeyDictionary()


def one_event(distribution: MoveDistribution) -> OneEvent | None:
    """The distribution's `OneEvent` (made once per distribution object); None unless it is one valid event."""
    try:
        return _EVENTS[distribution]
    except KeyError:
        event = OneEvent(distribution) if len(distribution) == 1 and bool(distribution.valid[0]) else None
        _EVENTS[distribution] = event
        return event

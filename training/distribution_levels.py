"""One event's quantiles at levels fixed in advance (the quadrature's): `MoveDistribution.ppf` of those levels,
with what depends on the levels alone (which are in the body, their segments and start, the tail's log
ratios) computed once. Each element takes the very operations `ppf` takes (the same Newton iterations of
`hermite_inverse` over the same body elements, the same tail formula), so the same floats, without `ppf`'s
masks, broadcasts and gathers per call, and the Newton iterations' first step made once (`hermite.Start`; a request's
first forecast inverts one event's distribution)."""

from __future__ import annotations

import numpy as np

from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.distribution_batch import log_gpd_inverse_one
from ivcrush.training.distribution_floats import LEVELS, TAIL_MASS
from ivcrush.training.hermite import Start, hermite_inverse


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


class FixedLevels:
    """Levels in [0, 1) without NaN, sorted: the body's (at most q90's level) first, then the tail's."""

    def __init__(self, levels: np.ndarray) -> None:
        p = np.asarray(levels, dtype="float64")
        body = (p >= 0) & (p <= LEVELS[-1])
        self.size = len(p)
        self.body = int(body.sum())
        # what `ppf_one` reproduces: every level inside [0, 1) (none at 1: inf), the body's a prefix, sorted
        self.usable = bool(((p >= 0) & (p < 1)).all() and body[: self.body].all() and (np.diff(p) >= 0).all())
        p_body = p[: self.body]
        j = np.clip(np.searchsorted(LEVELS, p_body, side="right") - 1, 0, len(LEVELS) - 2)  # `_body_ppf`'s
        self._p, self._j, self._j1 = _read_only(p_body.copy()), _read_only(j), _read_only(j + 1)
        self._level0, self._level1 = _read_only(LEVELS[j]), _read_only(LEVELS[j + 1])
        self._start = Start(self._p, self._level0, self._level1)  # the Newton iterations' first step, made once
        # `_ppf`'s log of 1 / (the GPD's survival) at each tail level
        self._log_ratio = _read_only(np.log(TAIL_MASS / np.maximum(1.0 - p[self.body :], 1e-300)))

    def ppf_one(self, distribution: MoveDistribution) -> np.ndarray | None:
        """`distribution.ppf(levels)` of a valid one-event distribution (a new array); None otherwise."""
        if not self.usable or len(distribution) != 1 or not distribution.valid[0]:
            return None
        knots, slopes = distribution.knots[0], distribution._slopes[0]
        lo_x = knots[self._j]
        h = knots[self._j1] - lo_x
        m0, m1 = slopes[self._j], slopes[self._j1]
        t = hermite_inverse(self._p, h, self._level0, self._level1, m0, m1, self._start)
        out = np.empty(self.size)
        np.add(lo_x, t * h, out=out[: self.body])
        xi, q90 = float(distribution.tail_shape[0]), float(knots[-1])
        scale = float(distribution.tail_scale[0]) * q90  # `_scale`: tail_scale x q90
        np.add(q90, scale * log_gpd_inverse_one(self._log_ratio, xi), out=out[self.body :])
        return out

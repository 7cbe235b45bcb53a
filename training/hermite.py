"""The cubic Hermite segments of `MoveDistribution`'s body CDF and their inverse: Newton steps kept inside a
shrinking bracket (else bisection), on the position t in [0, 1] of each element's segment.

An element's steps are plain float operations on its own numbers, so they give the same floats whatever else
is computed beside it; what ties elements together is when they stop. `hermite_inverse` iterates all its
elements until every one has converged (one event's quantiles); `hermite_inverse_rows` does so row by row
(each event's quantiles at the same levels, exactly as that event alone gives them), on (events, levels)
arrays without gathering and scattering elements.

Both start every element at its linear interpolation t0, a function of the levels alone: in
`hermite_inverse_rows` the first step's powers of t and their products with the levels are computed once on
the levels (m,) and broadcast over the rows, the same floats as computed element by element. A step's slope is
computed only where the step is taken (not where the elements have converged), and whether elements have
stopped changing is checked only from `FIXED_FROM` steps on: an element whose t, lo and hi no longer change
gives the same floats at every further step, so finding it later changes no result, only when the work stops.
"""

from __future__ import annotations

import numpy as np

NEWTON_STEPS = 60
CONVERGED = 1e-13  # |CDF(t) - p| below which an element has converged
FIXED_FROM = 6  # the steps after which elements that stopped changing are looked for (few need more than 5)


def hermite(
    t: np.ndarray, h: np.ndarray, level0: np.ndarray, level1: np.ndarray, m0: np.ndarray, m1: np.ndarray
) -> np.ndarray:
    """The cubic Hermite CDF at position t of a segment of width h between the levels, with end slopes m0, m1."""
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * level0 + (t3 - 2 * t2 + t) * h * m0 + (-2 * t3 + 3 * t2) * level1 + (t3 - t2) * h * m1
    )


Cubic = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # h, level0, level1, m0, m1
Powers = tuple[np.ndarray, np.ndarray]  # t * t and 3 * (t * t), shared by the value and the slope


def _error(t: np.ndarray, p: np.ndarray, cubic: Cubic) -> tuple[np.ndarray, Powers]:
    """`hermite` at t less p, and the powers of t its slope reuses: the same floats as `hermite` (t*t*t is
    (t*t)*t; -2 t3 + 3 t2 is 3 t2 - 2 t3 exactly), each sum and product taken in the same order, into a few
    arrays of the result's shape rather than one new array per operation."""
    h, level0, level1, m0, m1 = cubic
    t2 = t * t
    t3 = t2 * t
    three_t2, two_t3 = 3 * t2, 2 * t3
    cdf = np.subtract(two_t3, three_t2)
    cdf += 1
    cdf *= level0  # (2 t3 - 3 t2 + 1) level0
    term = np.multiply(2, t2)
    np.subtract(t3, term, out=term)
    term += t
    term *= h
    term *= m0  # + (t3 - 2 t2 + t) h m0
    cdf += term
    np.subtract(three_t2, two_t3, out=term)
    term *= level1  # + (3 t2 - 2 t3) level1
    cdf += term
    np.subtract(t3, t2, out=term)
    term *= h
    term *= m1  # + (t3 - t2) h m1
    cdf += term
    cdf -= p
    return cdf, (t2, three_t2)


def _slope(t: np.ndarray, powers: Powers, cubic: Cubic, drop: np.ndarray) -> np.ndarray:
    """The cubic's slope in t (drop: level0 - level1; `powers` of t from `_error`): (6 t2 - 6 t) drop
    + (3 t2 - 4 t + 1) h m0 + (3 t2 - 2 t) h m1, in that order."""
    h, _, _, m0, m1 = cubic
    t2, three_t2 = powers
    slope = np.multiply(6, t2)
    np.subtract(slope, np.multiply(6, t), out=slope)
    slope *= drop
    term = np.multiply(4, t)
    np.subtract(three_t2, term, out=term)
    term += 1
    term *= h
    term *= m0
    slope += term
    np.multiply(2, t, out=term)
    np.subtract(three_t2, term, out=term)
    term *= h
    term *= m1
    slope += term
    return slope


def _first_error_and_slope(t: np.ndarray, p: np.ndarray, cubic: Cubic, drop: np.ndarray) -> tuple[np.ndarray, ...]:
    """`_error` and `_slope` where every row sits at the same t (m,) (h and the slopes (n, m) or (m,)): what
    depends on t and the levels only is computed once on (m,) and broadcast (the same floats)."""
    h, level0, level1, m0, m1 = cubic
    t2 = t * t
    t3 = t2 * t
    three_t2, two_t3 = 3 * t2, 2 * t3
    start = ((two_t3 - three_t2) + 1) * level0
    rise = (three_t2 - two_t3) * level1
    cdf = np.multiply((t3 - 2 * t2) + t, h)
    cdf *= m0
    cdf += start  # (2 t3 - 3 t2 + 1) level0 + (t3 - 2 t2 + t) h m0
    cdf += rise
    term = np.multiply(t3 - t2, h)
    term *= m1
    cdf += term
    cdf -= p
    slope = np.multiply((three_t2 - 4 * t) + 1, h)
    slope *= m0
    slope += (6 * t2 - 6 * t) * drop
    np.multiply(three_t2 - 2 * t, h, out=term)
    term *= m1
    slope += term
    return cdf, slope


def _newton_step(
    t: np.ndarray, error: np.ndarray, slope: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Newton step from t on `hermite` - p (its value `error` and slope at t), kept inside the bracket (lo, hi)
    shrunk by t: the new t, lo and hi (where every slope is positive and every step inside its bracket, the
    same floats without the other branches)."""
    lo, hi = np.where(error < 0, t, lo), np.where(error > 0, t, hi)
    rising = slope > 0
    every = rising.all()
    step = t - error / slope if every else np.where(rising, t - error / np.where(rising, slope, 1.0), -1.0)
    inside = step > lo
    inside &= step < hi
    if inside.all():
        return step, lo, hi
    return np.where(inside, step, (lo + hi) / 2), lo, hi


def _converged(error: np.ndarray) -> np.ndarray:
    """Whether every element of each row (the last axis) has converged: max |error| < CONVERGED (a NaN
    anywhere in the row: not converged, as `all(|error| < CONVERGED)`)."""
    return np.abs(error).max(axis=-1) < CONVERGED


class Start:
    """What `hermite_inverse`'s first step computes of levels fixed in advance (p and the levels, read-only):
    the start t0, its bracket, and the terms of the cubic and its slope at t0 that do not depend on the segment's
    width and end slopes (`_first_error_and_slope`'s, the same floats)."""

    def __init__(self, p: np.ndarray, level0: np.ndarray, level1: np.ndarray) -> None:
        t = (p - level0) / (level1 - level0)
        t2 = t * t
        t3 = t2 * t
        three_t2, two_t3 = 3 * t2, 2 * t3
        self.p, self.level0, self.level1, self.t = p, level0, level1, t
        self.lo, self.hi, self.drop = np.zeros_like(p), np.ones_like(p), level0 - level1
        self.start = ((two_t3 - three_t2) + 1) * level0
        self.rise = (three_t2 - two_t3) * level1
        self.at_m0, self.at_m1 = (t3 - 2 * t2) + t, t3 - t2  # the h m0 and h m1 terms' factors
        self.slope_m0, self.slope_m1 = (three_t2 - 4 * t) + 1, three_t2 - 2 * t
        self.slope_drop = (6 * t2 - 6 * t) * self.drop
        for array in vars(self).values():
            array.flags.writeable = False

    def error_and_slope(self, h: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`_error` and `_slope` at t0 of a segment's width and end slopes."""
        cdf = np.multiply(self.at_m0, h)
        cdf *= m0
        cdf += self.start  # (2 t3 - 3 t2 + 1) level0 + (t3 - 2 t2 + t) h m0
        cdf += self.rise
        term = np.multiply(self.at_m1, h)
        term *= m1
        cdf += term
        cdf -= self.p
        slope = np.multiply(self.slope_m0, h)
        slope *= m0
        slope += self.slope_drop
        np.multiply(self.slope_m1, h, out=term)
        term *= m1
        slope += term
        return cdf, slope


def hermite_inverse(
    p: np.ndarray,
    h: np.ndarray,
    level0: np.ndarray,
    level1: np.ndarray,
    m0: np.ndarray,
    m1: np.ndarray,
    start: Start | None = None,
) -> np.ndarray:
    """The position t of each element's segment where `hermite` is p (all arrays of p's size, p between the
    levels), iterated until every element has converged or none changes any more. An element whose t, lo and
    hi no longer change stays so: it is computed again with the same floats (no gathering), and one fixed short
    of converging stays unconverged, so the steps go on for the others until none changes. `start`: the first
    step's terms of these p and levels, made once (the same floats)."""
    if start is None:
        lo, hi = np.zeros_like(p), np.ones_like(p)
        t = (p - level0) / (level1 - level0)
        drop = level0 - level1
    else:
        lo, hi, t, drop = start.lo, start.hi, start.t, start.drop
    cubic = (h, level0, level1, m0, m1)
    for step in range(NEWTON_STEPS):
        if step == 0 and start is not None:
            error, slope = start.error_and_slope(h, m0, m1)
            powers = None
        else:
            error, powers = _error(t, p, cubic)
        if np.maximum.reduce(np.abs(error), initial=0.0) < CONVERGED:  # all |error| below (a NaN: not converged)
            break
        if powers is not None:
            slope = _slope(t, powers, cubic, drop)
        stepped, lo_new, hi_new = _newton_step(t, error, slope, lo, hi)
        if step >= FIXED_FROM and (stepped == t).all() and (lo_new == lo).all() and (hi_new == hi).all():
            break  # every element fixed: further steps give these floats again
        t, lo, hi = stepped, lo_new, hi_new
    return t


def hermite_inverse_rows(
    p: np.ndarray, h: np.ndarray, level0: np.ndarray, level1: np.ndarray, m0: np.ndarray, m1: np.ndarray
) -> np.ndarray:
    """`hermite_inverse` of each row on its own, (n, m): p and the levels (m,) the same in every row, h and
    the slopes (n, m). A row iterates until all its elements have converged; an element that stopped changing
    is computed again with the same result (its t, lo and hi are what they were), so only the rows still
    changing are kept."""
    n, m = h.shape
    t = (p - level0) / (level1 - level0)  # (m,): every row starts there (tiled once the rows part)
    if n == 0 or m == 0:
        return t
    lo, hi = np.zeros(h.shape), np.ones(h.shape)
    live = np.arange(n)  # the rows still changing
    drop = level0 - level1
    for step in range(NEWTON_STEPS):
        if live.size == 0:
            break
        every, first = live.size == n, t.ndim == 1
        tl = t if every or first else t[live]
        hl, m0l, m1l = (h, m0, m1) if every else (h[live], m0[live], m1[live])
        if first:  # every row at the same t
            error, slope = _first_error_and_slope(t, p, (hl, level0, level1, m0l, m1l), drop)
        else:
            error, powers = _error(tl, p, (hl, level0, level1, m0l, m1l))
        going = ~_converged(error)  # some element of the row has not converged
        if not going.any():
            break
        if not going.all():
            live, hl, m0l, m1l, error = (a[going] for a in (live, hl, m0l, m1l, error))
            if first:
                slope = slope[going]
            else:
                tl, powers = tl[going], (powers[0][going], powers[1][going])
            every = False
        if not first:
            slope = _slope(tl, powers, (hl, level0, level1, m0l, m1l), drop)
        lol, hil = (lo, hi) if every else (lo[live], hi[live])
        stepped, lo_l, hi_l = _newton_step(tl, error, slope, lol, hil)
        if every:
            t, lo, hi = stepped, lo_l, hi_l
        else:
            t = np.tile(t, (n, 1)) if first else t
            t[live], lo[live], hi[live] = stepped, lo_l, hi_l
        if step >= FIXED_FROM:  # rows whose elements no longer change: the same floats at every further step
            live = live[~((stepped == tl) & (lo_l == lol) & (hi_l == hil)).all(axis=1)]
    return t

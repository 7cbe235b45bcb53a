"""The cubic Hermite segments of `MoveDistribution`'s body CDF and their inverse: Newton steps kept inside a
shrinking bracket (else bisection), on the position t in [0, 1] of each element's segment.

An element's steps are plain float operations on its own numbers, so they give the same floats whatever else
is computed beside it; what ties elements together is when they stop. `hermite_inverse` iterates all its
elements until every one has converged (one event's quantiles); `hermite_inverse_rows` does so row by row
(each event's quantiles at the same levels, exactly as that event alone gives them), on (events, levels)
arrays without gathering and scattering elements.
"""

from __future__ import annotations

import numpy as np

NEWTON_STEPS = 60
CONVERGED = 1e-13  # |CDF(t) - p| below which an element has converged


def hermite(
    t: np.ndarray, h: np.ndarray, level0: np.ndarray, level1: np.ndarray, m0: np.ndarray, m1: np.ndarray
) -> np.ndarray:
    """The cubic Hermite CDF at position t of a segment of width h between the levels, with end slopes m0, m1."""
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * level0 + (t3 - 2 * t2 + t) * h * m0 + (-2 * t3 + 3 * t2) * level1 + (t3 - t2) * h * m1
    )


Cubic = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # h, level0, level1, m0, m1


def _error_and_slope(t: np.ndarray, p: np.ndarray, cubic: Cubic, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`hermite` at t less p, and the cubic's slope in t there (drop: level0 - level1), the powers of t shared:
    the same floats as apart (t*t*t is (t*t)*t; -2 t3 + 3 t2 is 3 t2 - 2 t3 exactly), each sum and product
    taken in the same order, into a few arrays of the result's shape rather than one new array per operation."""
    h, level0, level1, m0, m1 = cubic
    if t.shape != h.shape:  # every row's first step starts at the same t (m,)
        t = np.broadcast_to(t, h.shape)
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
    slope = np.multiply(6, t2, out=t3)
    np.subtract(slope, np.multiply(6, t, out=two_t3), out=slope)
    slope *= drop  # (6 t2 - 6 t) drop
    np.multiply(4, t, out=term)
    np.subtract(three_t2, term, out=term)
    term += 1
    term *= h
    term *= m0  # + (3 t2 - 4 t + 1) h m0
    slope += term
    np.multiply(2, t, out=term)
    np.subtract(three_t2, term, out=term)
    term *= h
    term *= m1  # + (3 t2 - 2 t) h m1
    slope += term
    return cdf, slope


def _newton_step(
    t: np.ndarray, error: np.ndarray, slope: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Newton step from t on `hermite` - p (its value `error` and slope at t), kept inside the bracket (lo, hi)
    shrunk by t: the new t, lo and hi."""
    lo, hi = np.where(error < 0, t, lo), np.where(error > 0, t, hi)
    rising = slope > 0
    step = np.where(rising, t - error / np.where(rising, slope, 1.0), -1.0)
    return np.where((step > lo) & (step < hi), step, (lo + hi) / 2), lo, hi


def hermite_inverse(
    p: np.ndarray, h: np.ndarray, level0: np.ndarray, level1: np.ndarray, m0: np.ndarray, m1: np.ndarray
) -> np.ndarray:
    """The position t of each element's segment where `hermite` is p (all arrays of p's size, p between the
    levels), iterated until every element has converged or none changes any more. An element whose t, lo and
    hi no longer change stays so: it is computed again with the same floats (no gathering), and one fixed short
    of converging stays unconverged, so the steps go on for the others until none changes."""
    lo, hi = np.zeros_like(p), np.ones_like(p)
    t = (p - level0) / (level1 - level0)
    cubic, drop = (h, level0, level1, m0, m1), level0 - level1
    for _ in range(NEWTON_STEPS):
        error, slope = _error_and_slope(t, p, cubic, drop)
        if (np.abs(error) < CONVERGED).all():
            break
        stepped, lo_new, hi_new = _newton_step(t, error, slope, lo, hi)
        if (stepped == t).all() and (lo_new == lo).all() and (hi_new == hi).all():
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
    n = len(h)
    t = (p - level0) / (level1 - level0)  # (m,): every row starts there (tiled once the rows part)
    lo, hi = np.zeros(h.shape), np.ones(h.shape)
    live = np.arange(n)  # the rows still changing
    drop = level0 - level1
    for _ in range(NEWTON_STEPS):
        if live.size == 0:
            break
        every = live.size == n
        tl = t if every or t.ndim == 1 else t[live]
        hl, m0l, m1l, lol, hil = (a if every else a[live] for a in (h, m0, m1, lo, hi))
        error, slope = _error_and_slope(tl, p, (hl, level0, level1, m0l, m1l), drop)
        going = ~(np.abs(error) < CONVERGED).all(axis=1)  # some element of the row has not converged
        if not going.all():
            live, hl, m0l, m1l, lol, hil, error, slope = (
                a[going] for a in (live, hl, m0l, m1l, lol, hil, error, slope)
            )
            tl = tl if tl.ndim == 1 else tl[going]
            every = False
        stepped, lo_l, hi_l = _newton_step(tl, error, slope, lol, hil)
        fixed = ((stepped == tl) & (lo_l == lol) & (hi_l == hil)).all(axis=1)
        if every:
            t, lo, hi = stepped, lo_l, hi_l
        else:
            t = np.tile(t, (n, 1)) if t.ndim == 1 else t
            t[live], lo[live], hi[live] = stepped, lo_l, hi_l
        live = live[~fixed]
    return t

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


def _newton_step(
    t: np.ndarray,
    cubic: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    error: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """A Newton step from t on `hermite` - p (whose value at t is `error`), kept inside (lo, hi)."""
    h, level0, level1, m0, m1 = cubic
    t2 = t * t
    slope = (6 * t2 - 6 * t) * (level0 - level1) + (3 * t2 - 4 * t + 1) * h * m0 + (3 * t2 - 2 * t) * h * m1
    step = np.where(slope > 0, t - error / np.where(slope > 0, slope, 1.0), -1.0)
    return np.where((step > lo) & (step < hi), step, (lo + hi) / 2)


def hermite_inverse(
    p: np.ndarray, h: np.ndarray, level0: np.ndarray, level1: np.ndarray, m0: np.ndarray, m1: np.ndarray
) -> np.ndarray:
    """The position t of each element's segment where `hermite` is p (all arrays of p's size, p between the
    levels), iterated until every element has converged; only the elements still changing are computed (all of
    them, without gathering, until the first one stops changing)."""
    lo, hi = np.zeros_like(p), np.ones_like(p)
    t = (p - level0) / (level1 - level0)
    stuck = False  # some element fixed short of converging
    live: np.ndarray | None = None  # the elements still changing (None: every one)
    cubic_all = (h, level0, level1, m0, m1)
    for _ in range(NEWTON_STEPS):
        if live is None:
            tl, cubic, pl, lo_live, hi_live = t, cubic_all, p, lo, hi
        elif live.size == 0:
            break
        else:
            tl, pl, lo_live, hi_live = t[live], p[live], lo[live], hi[live]
            cubic = (h[live], level0[live], level1[live], m0[live], m1[live])
        error = hermite(tl, *cubic) - pl
        unconverged = ~(np.abs(error) < CONVERGED)
        if not (stuck or unconverged.any()):
            break
        lo_l, hi_l = np.where(error < 0, tl, lo_live), np.where(error > 0, tl, hi_live)
        stepped = _newton_step(tl, cubic, error, lo_l, hi_l)
        # an element whose t, lo and hi no longer change stays so: it leaves the computation
        fixed = (stepped == tl) & (lo_l == lo_live) & (hi_l == hi_live)
        if live is None:
            t, lo, hi = stepped, lo_l, hi_l
            live = np.flatnonzero(~fixed) if fixed.any() else None
        else:
            t[live], lo[live], hi[live] = stepped, lo_l, hi_l
            live = live[~fixed]
        stuck = stuck or bool((fixed & unconverged).any())
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
    for _ in range(NEWTON_STEPS):
        if live.size == 0:
            break
        every = live.size == n
        tl = t if every or t.ndim == 1 else t[live]
        hl, m0l, m1l, lol, hil = (a if every else a[live] for a in (h, m0, m1, lo, hi))
        error = hermite(tl, hl, level0, level1, m0l, m1l) - p
        going = ~(np.abs(error) < CONVERGED).all(axis=1)  # some element of the row has not converged
        if not going.all():
            live, hl, m0l, m1l, lol, hil, error = (a[going] for a in (live, hl, m0l, m1l, lol, hil, error))
            tl = tl if tl.ndim == 1 else tl[going]
            every = False
        lo_l, hi_l = np.where(error < 0, tl, lol), np.where(error > 0, tl, hil)
        stepped = _newton_step(tl, (hl, level0, level1, m0l, m1l), error, lo_l, hi_l)
        fixed = ((stepped == tl) & (lo_l == lol) & (hi_l == hil)).all(axis=1)
        if every:
            t, lo, hi = stepped, lo_l, hi_l
        else:
            t = np.tile(t, (n, 1)) if t.ndim == 1 else t
            t[live], lo[live], hi[live] = stepped, lo_l, hi_l
        live = live[~fixed]
    return t

"""`hermite_inverse` (every element computed until all are fixed or converged, the cubic's value and slope
sharing their powers of t) gives, float for float, what the earlier form gave: elements gathered as they
stop changing, `hermite` and the Newton step computed apart. The earlier form is kept here as the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from ivcrush.training import distribution
from ivcrush.training.distribution_floats import LEVELS
from ivcrush.training.economics import _LEVELS, quantile_quadrature
from ivcrush.training.hermite import CONVERGED, NEWTON_STEPS, hermite, hermite_inverse_rows
from tests.test_distribution import random_quantiles


def _step_apart(t: np.ndarray, cubic: tuple[np.ndarray, ...], error: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    h, level0, level1, m0, m1 = cubic
    t2 = t * t
    slope = (6 * t2 - 6 * t) * (level0 - level1) + (3 * t2 - 4 * t + 1) * h * m0 + (3 * t2 - 2 * t) * h * m1
    step = np.where(slope > 0, t - error / np.where(slope > 0, slope, 1.0), -1.0)
    return np.where((step > lo) & (step < hi), step, (lo + hi) / 2)


def gathered_inverse(p, h, level0, level1, m0, m1):  # type: ignore[no-untyped-def]
    """The earlier `hermite_inverse`: only the elements still changing computed, once one has stopped."""
    lo, hi = np.zeros_like(p), np.ones_like(p)
    t = (p - level0) / (level1 - level0)
    stuck, live = False, None
    for _ in range(NEWTON_STEPS):
        if live is None:
            tl, cubic, pl, lo_live, hi_live = t, (h, level0, level1, m0, m1), p, lo, hi
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
        stepped = _step_apart(tl, cubic, error, lo_l, hi_l)
        fixed = (stepped == tl) & (lo_l == lo_live) & (hi_l == hi_live)
        if live is None:
            t, lo, hi = stepped, lo_l, hi_l
            live = np.flatnonzero(~fixed) if fixed.any() else None
        else:
            t[live], lo[live], hi[live] = stepped, lo_l, hi_l
            live = live[~fixed]
        stuck = stuck or bool((fixed & unconverged).any())
    return t


@pytest.mark.parametrize("seed", range(40))
def test_inverse_is_the_gathered_inverse_float_for_float(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """On random distributions (ties, zero and tiny quantiles, light and heavy tails, an invalid row) at the
    quadrature's levels and random ones: every quantile the same float, and so every quadrature node."""
    quantiles, shapes, scales = random_quantiles(seed, 12)
    quantiles[::5] *= 1e-7
    quantiles[3], quantiles[7, 1] = 0.0, np.nan
    shapes[::4] = 0.0
    rng = np.random.default_rng(seed)
    levels = np.concatenate([rng.random(80), [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, np.nan, -0.5, 1.5]])
    for i in range(len(quantiles)):
        made = distribution.MoveDistribution(quantiles[i], shapes[i], scales[i])
        now, nodes = np.asarray(made.ppf(levels)), quantile_quadrature(made)[0].copy()
        with monkeypatch.context() as patched:
            patched.setattr(distribution, "hermite_inverse", gathered_inverse)
            again = distribution.MoveDistribution(quantiles[i], shapes[i], scales[i])
            assert now.tobytes() == np.asarray(again.ppf(levels)).tobytes(), i
            assert nodes.tobytes() == quantile_quadrature(again)[0].tobytes(), i


def _error_and_slope_apart(t, p, cubic):  # type: ignore[no-untyped-def]
    h, level0, level1, m0, m1 = cubic
    t2 = t * t
    slope = (6 * t2 - 6 * t) * (level0 - level1) + (3 * t2 - 4 * t + 1) * h * m0 + (3 * t2 - 2 * t) * h * m1
    return hermite(t, *cubic) - p, slope


def rows_every_step(p, h, level0, level1, m0, m1):  # type: ignore[no-untyped-def]
    """The earlier `hermite_inverse_rows`: every live row's value and slope computed apart at each step (its t
    broadcast), the Newton step with every branch, and the rows that stopped changing dropped at every step."""
    n = len(h)
    t = np.tile((p - level0) / (level1 - level0), (n, 1))
    lo, hi = np.zeros(h.shape), np.ones(h.shape)
    live = np.arange(n)
    for _ in range(NEWTON_STEPS):
        if live.size == 0:
            break
        tl, lol, hil = t[live], lo[live], hi[live]
        error, slope = _error_and_slope_apart(tl, p, (h[live], level0, level1, m0[live], m1[live]))
        going = ~(np.abs(error) < CONVERGED).all(axis=1)
        live, tl, lol, hil, error, slope = (a[going] for a in (live, tl, lol, hil, error, slope))
        lo_l, hi_l = np.where(error < 0, tl, lol), np.where(error > 0, tl, hil)
        stepped = np.where(slope > 0, tl - error / np.where(slope > 0, slope, 1.0), -1.0)
        stepped = np.where((stepped > lo_l) & (stepped < hi_l), stepped, (lo_l + hi_l) / 2)
        fixed = ((stepped == tl) & (lo_l == lol) & (hi_l == hil)).all(axis=1)
        t[live], lo[live], hi[live] = stepped, lo_l, hi_l
        live = live[~fixed]
    return t


@pytest.mark.parametrize("seed", range(30))
def test_rows_inverse_is_every_row_stepped_apart_float_for_float(seed: int) -> None:
    """`hermite_inverse_rows` (the first step on the levels broadcast, slopes only where a step is taken, the
    fast Newton step, stopped rows looked for late) gives, float for float, every row's t of the earlier form:
    at the quadrature's levels and random ones, with ties, tiny and zero quantiles and an invalid row."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    quantiles, shapes, scales = random_quantiles(seed, n)
    quantiles[::7] *= 1e-7
    quantiles[n // 2] = 0.0
    quantiles[n - 1, 2] = np.nan
    levels = _LEVELS if seed % 2 else np.concatenate([rng.random(60), [0.0, 0.1, 0.25, 0.5, 0.75, 0.9]])
    made = distribution.MoveDistribution(quantiles, shapes, scales)
    body = levels[levels <= LEVELS[-1]]
    j = np.clip(np.searchsorted(LEVELS, body, side="right") - 1, 0, len(LEVELS) - 2)
    h = np.ascontiguousarray(made.knots[:, j + 1] - made.knots[:, j])
    m0, m1 = (np.ascontiguousarray(made._slopes[:, k]) for k in (j, j + 1))
    args = (body, h, LEVELS[j], LEVELS[j + 1], m0, m1)
    now = np.broadcast_to(hermite_inverse_rows(*args), h.shape)
    assert now.tobytes() == rows_every_step(*args).tobytes()

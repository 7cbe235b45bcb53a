"""`brent.brentq_one` (one bracket, a function on Python floats) finds scipy's `brentq` root float for float,
as `brentq_many` does: random smooth and steep functions, brackets and tolerances (hypothesis, derandomized)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from ivcrush.serving.brent import FEW, brentq_many, brentq_one

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _function(shift: float, power: float, pole: float) -> tuple[object, object]:
    """A monotone root at `shift` bent by a power and a pole beyond the bracket (as the Kelly slope's)."""

    def one(x: float) -> float:
        return math.copysign(abs(x - shift) ** power, x - shift) - 1e-3 * math.cos(x) + 1e-4 / (pole - x)

    def many(x: np.ndarray, _: np.ndarray) -> np.ndarray:
        return np.array([one(value) for value in x.tolist()])

    return one, many


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.floats(-5.0, 5.0),
    st.sampled_from([1.0, 3.0, 5.0, 0.5]),
    st.floats(0.01, 20.0),
    st.floats(0.01, 20.0),
    st.sampled_from([1e-12, 1e-10, 1e-6]),
    st.sampled_from([4 * np.finfo(float).eps, 1e-12]),
)
def test_one_bracket_finds_scipys_root(
    shift: float, power: float, left: float, right: float, xtol: float, rtol: float
) -> None:
    lo, hi = shift - left, shift + right
    one, many = _function(shift, power, hi + 1.0)
    if one(lo) * one(hi) > 0:
        with pytest.raises(ValueError, match="different signs"):
            brentq_one(one, lo, hi, xtol=xtol, rtol=rtol)
        return
    want = brentq(one, lo, hi, xtol=xtol, rtol=rtol)
    assert brentq_one(one, lo, hi, xtol=xtol, rtol=rtol) == want
    assert brentq_one(one, lo, hi, xtol=xtol, rtol=rtol, ends=(one(lo), one(hi))) == want
    assert float(brentq_many(many, np.array([lo]), np.array([hi]), xtol=xtol, rtol=rtol)[0]) == want


def test_ends_at_a_root_and_nan_values() -> None:
    assert brentq_one(lambda x: x - 1.0, 1.0, 3.0, xtol=1e-12) == 1.0
    assert brentq_one(lambda x: x - 3.0, 1.0, 3.0, xtol=1e-12) == 3.0
    with pytest.raises(ValueError, match="NaN"):
        brentq_one(lambda x: math.nan if -1 < x < 3 else x - 1.0, -1.0, 3.0, xtol=1e-12)
    with pytest.raises(RuntimeError, match="converge"):
        brentq_one(lambda x: x**5 - 0.3, 0.0, 1.0, xtol=1e-15, maxiter=3)
    with pytest.raises(RuntimeError, match="converge"):
        brentq(lambda x: x**5 - 0.3, 0.0, 1.0, xtol=1e-15, maxiter=3)  # scipy gives up there too


def test_many_brackets_hand_their_last_steps_to_python_floats() -> None:
    """`brentq_many` steps on arrays while many brackets are open, then on Python floats (`FEW`): scipy's roots
    wherever the hand-off falls (at the start where most brackets close on an end, mid-way, never), and scipy's
    failure to converge within `maxiter` steps counted across the hand-off."""
    rng = np.random.default_rng(5)
    n = 3 * FEW
    shift = rng.uniform(-2, 2, n)
    lo, hi = shift - 10 ** rng.uniform(-3, 1, n), shift + 10 ** rng.uniform(-3, 1, n)  # closing at different steps
    closing = hi.copy()
    closing[: 2 * FEW] = shift[: 2 * FEW]  # closed from the start: f(hi) = 0

    def one(x: float, i: int) -> float:
        return (x - shift[i]) ** 3 + 0.05 * (x - shift[i])

    def many(x: np.ndarray, which: np.ndarray) -> np.ndarray:
        return np.array([one(value, i) for value, i in zip(x.tolist(), which.tolist(), strict=True)])

    everyone, few = np.arange(n), np.arange(2 * FEW, n)
    for brackets, ends in ((everyone, hi), (everyone, closing), (few, hi)):  # mid-way, at the start, from the start
        roots = brentq_many(lambda x, w, b=brackets: many(x, b[w]), lo[brackets], ends[brackets], xtol=1e-12)
        for i, root in zip(brackets.tolist(), roots.tolist(), strict=True):
            assert root == brentq(lambda x, i=i: one(x, i), lo[i], ends[i], xtol=1e-12)
        for maxiter in (2, 5):  # the open brackets cannot close in so few steps, on arrays or on Python floats
            with pytest.raises(RuntimeError, match="converge"):
                brentq_many(
                    lambda x, w, b=brackets: many(x, b[w]), lo[brackets], ends[brackets], xtol=1e-15, maxiter=maxiter
                )

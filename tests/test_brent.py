"""`brent.brentq_one` (one bracket, a function on Python floats) finds scipy's `brentq` root float for float,
as `brentq_many` does: random smooth and steep functions, brackets and tolerances (hypothesis, derandomized)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from ivcrush.serving.brent import brentq_many, brentq_one

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

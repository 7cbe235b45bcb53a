"""`payoff.regular_grid` gives `np.linspace(0, stop, GRID_POINTS)`'s bytes for any stop at or above 0 (huge,
tiny, subnormal, inf, NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ivcrush.serving.payoff import GRID_POINTS, regular_grid

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.one_of(st.floats(0.0, 1e4), st.floats(0.0, allow_infinity=True), st.just(math.nan)))
def test_the_regular_grid_is_linspaces(stop: float) -> None:
    with np.errstate(invalid="ignore"):
        assert regular_grid(stop).tobytes() == np.linspace(0.0, stop, GRID_POINTS).tobytes()


def test_subnormal_and_edge_stops() -> None:
    for stop in (0.0, 5e-324, 1e-310, 1.0, 1e308, math.inf, math.nan):
        with np.errstate(invalid="ignore"):
            assert regular_grid(stop).tobytes() == np.linspace(0.0, stop, GRID_POINTS).tobytes()

"""`payoff.regular_grid` (and `regular_grids`, row by row) gives `np.linspace(0, stop, GRID_POINTS)`'s bytes for
any stop at or above 0 (huge, tiny, subnormal, inf, NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ivcrush.serving.payoff import GRID_POINTS, regular_grid, regular_grids

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


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.one_of(st.floats(0.0, 1e4), st.sampled_from([0.0, 5e-324, 1e-310, 1e308, math.inf, math.nan])), max_size=12
    )
)
def test_the_regular_grids_are_each_stops_linspace(stops: list[float]) -> None:
    """`regular_grids` (the scan's rows at once): row i is `regular_grid(stops[i])`, byte for byte."""
    with np.errstate(invalid="ignore"):
        grids = regular_grids(np.array(stops, dtype="float64"))
        assert grids.shape == (len(stops), GRID_POINTS)
        for stop, row in zip(stops, grids, strict=True):
            assert row.tobytes() == regular_grid(stop).tobytes() == np.linspace(0.0, stop, GRID_POINTS).tobytes()

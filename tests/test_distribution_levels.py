"""`FixedLevels.ppf_one` is, bit for bit, `MoveDistribution.ppf` of its levels for any valid one-event
distribution (ties, tiny or zero quantiles, any tail shape and scale), and declines where `ppf` does more."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.distribution_levels import FixedLevels
from ivcrush.training.economics import _LEVELS, DISASTER_MOVE_PCT, quantile_quadrature

_QUANTILE = st.one_of(st.floats(0.0, 40.0), st.sampled_from([0.0, 1e-9, 1.0, 3.5]))
_SHAPE = st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 1e-10, -1e-10, 0.9, math.nan]))
_SCALE = st.one_of(st.floats(0.0, 3.0), st.sampled_from([0.0, 1e-4, 0.45]))


@st.composite
def _levels(draw: st.DrawFn) -> np.ndarray:
    body = draw(st.lists(st.floats(0.0, 0.9), max_size=12))
    tail = draw(st.lists(st.floats(0.9, 1.0, exclude_min=True, exclude_max=True), max_size=8))
    return np.array(sorted(body) + sorted(tail), dtype="float64")


@settings(max_examples=300, deadline=None)
@given(
    quantiles=st.lists(_QUANTILE, min_size=5, max_size=5),
    shape=_SHAPE,
    scale=_SCALE,
    levels=st.one_of(st.just(_LEVELS), _levels()),
)
def test_ppf_one_is_ppf_bit_for_bit(quantiles: list[float], shape: float, scale: float, levels: np.ndarray) -> None:
    distribution = MoveDistribution(quantiles, shape, scale)
    fixed = FixedLevels(levels)
    assert fixed.usable
    got = fixed.ppf_one(distribution)
    assert got is not None
    expected = np.asarray(distribution.ppf(levels), dtype="float64").reshape(-1)
    assert got.tobytes() == expected.tobytes()


def test_the_quadrature_nodes_are_ppfs() -> None:
    distribution = MoveDistribution([0.33, 1.1, 3.8, 6.17, 9.49], 0.125, 0.3259)
    expected = distribution.ppf(_LEVELS).copy()
    expected[-1] = max(expected[-1], DISASTER_MOVE_PCT)
    assert quantile_quadrature(distribution)[0].tobytes() == expected.tobytes()


@pytest.mark.parametrize("levels", [[0.5, 1.0], [0.95, 0.5], [math.nan], [-0.1, 0.5]])
def test_levels_it_does_not_reproduce_are_left_to_ppf(levels: list[float]) -> None:
    assert not FixedLevels(np.array(levels)).usable
    assert FixedLevels(np.array(levels)).ppf_one(MoveDistribution([1.0, 2.0, 3.0, 4.0, 5.0])) is None


def test_invalid_or_several_events_are_left_to_ppf() -> None:
    fixed = FixedLevels(np.array([0.2, 0.95]))
    assert fixed.ppf_one(MoveDistribution([math.nan, 2.0, 3.0, 4.0, 5.0])) is None
    assert fixed.ppf_one(MoveDistribution(np.ones((2, 5)))) is None


@settings(max_examples=200, deadline=None)
@given(quantiles=st.lists(_QUANTILE, min_size=5, max_size=5), shape=_SHAPE, scale=_SCALE)
def test_one_event_from_python_floats_is_the_arrays(quantiles: list[float], shape: float, scale: float) -> None:
    """A distribution built from a list of Python floats (a forecast's) holds the numbers one built from arrays
    holds, bit for bit."""
    fast = MoveDistribution(quantiles, shape, scale)
    slow = MoveDistribution(np.array([quantiles]), np.array([shape]), np.array([scale]))
    for name in ("valid", "knots", "tail_shape", "tail_scale", "_slopes", "_cum_sf"):
        assert getattr(fast, name).tobytes() == getattr(slow, name).tobytes(), name

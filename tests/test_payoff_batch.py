"""`Positions.exit_values` and `exit_and_time_left` (positions sorted by their legs' layout, each group of legs
priced in one call, summed on slices) give the very bits of the implementation they replaced (below: every kind
of leg priced on its rows gathered, summed slot by slot over all positions with boolean scatters), whatever the
mix of structures, strikes (0, at a price), exit volatilities (none, some) and moves (to a price of 0 and
beyond), for all positions and for rows picked again (hypothesis, derandomized)."""

from __future__ import annotations

import numpy as np
import pytest

from ivcrush.serving.payoff import Leg
from ivcrush.serving.payoff_batch import Positions
from ivcrush.serving.pricing import option_values

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SPOTS = [0.8, 18.0, 100.0, 163.2, 2500.0]
STRUCTURES = [  # (kind, short) leg by leg, as `strategy.targets_of` orders them, and a few others
    (("put", True), ("call", True)),
    (("put", True), ("call", True), ("put", False), ("call", False)),
    (("put", True), ("put", False)),
    (("call", True), ("call", False)),
    (("put", True),),
    (("call", False), ("put", True), ("call", True)),
    (),
]


# --- the oracle: the implementation before the layout runs -----------------------------------------------------
def reference_exit_values(
    positions: Positions, moves: np.ndarray, rows: np.ndarray | None = None, intrinsic_out: np.ndarray | None = None
) -> np.ndarray:
    rows = np.arange(len(positions)) if rows is None else rows
    prices = moves / 100
    np.add(1, prices, out=prices)
    np.multiply(positions.spot[rows][:, None], prices, out=prices)
    np.maximum(prices, 0.0, out=prices)
    present, strike = positions.present[rows], positions.strike[rows]
    timed = positions.exit_sigma[rows] > 0
    priced: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if timed.any():
        at, slot = np.nonzero(present & timed[:, None])
        for call in (False, True):
            chosen = positions.call[rows[at], slot] == call
            if chosen.any():
                a, s = at[chosen], slot[chosen]
                sigma = positions.exit_sigma[rows[a]][:, None]
                priced.append((a, s, option_values(prices[a], strike[a, s][:, None], sigma, call=call)))
    kind = np.where(positions.call[rows], 1.0, -1.0)
    sign = positions.sign[rows]
    total, value = np.zeros(prices.shape), np.empty(prices.shape)
    for j in np.flatnonzero(present.any(axis=0)):
        np.subtract(prices, strike[:, j, None], out=value)
        np.multiply(kind[:, j, None], value, out=value)
        np.maximum(value, 0.0, out=value)
        if intrinsic_out is not None:
            np.add(intrinsic_out, value * sign[:, j, None], out=intrinsic_out)
        for a, s, values in priced:
            value[a[s == j]] = values[s == j]
        np.multiply(value, sign[:, j, None], out=value)
        np.add(total, value, out=total)
    return total


# ------------------------------------------------------------------------------------------------------------------
def _bits(values: np.ndarray) -> np.ndarray:
    """The float64s' bit patterns (so that 0.0 and -0.0 differ)."""
    return np.ascontiguousarray(values, dtype="float64").view(np.int64)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Positions, np.ndarray, np.ndarray | None]:
    """Positions, their signed moves (n, m: some to a strike exactly, some to a price of 0 or below), and rows
    picked (some again) or None."""
    n = draw(st.integers(1, 9))
    legs, spots, sigmas = [], [], []
    for _ in range(n):
        spot = draw(st.sampled_from(SPOTS))
        structure = draw(st.sampled_from(STRUCTURES))
        offsets = st.sampled_from([-0.4, -0.1, -0.03, 0.0, 0.02, 0.08, 0.5, -1.0])  # -1: a strike of 0
        legs.append(
            tuple(Leg(kind, round(spot * (1 + draw(offsets)), 2), short, 1.0, 0.1) for kind, short in structure)
        )
        spots.append(spot)
        sigmas.append(draw(st.sampled_from([0.0, 0.0, 0.004, 0.03, 0.4])))
    positions = Positions.of(legs, spots, sigmas, np.full(n, 3.0))
    m = draw(st.integers(1, 12))
    grid = draw(st.lists(st.floats(-180.0, 180.0, allow_nan=False), min_size=m, max_size=m))
    moves = np.tile(np.array(grid), (n, 1))
    at_strikes = 100 * (positions.strike / positions.spot[:, None] - 1)  # the price is the strike exactly
    moves[:, : min(m, 2)] = at_strikes[:, : min(m, 2)]
    moves[:, -1] = draw(st.sampled_from([-100.0, -130.0, 0.0]))
    if draw(st.booleans()):
        return positions, moves, None
    return positions, moves, np.array(draw(st.lists(st.integers(0, n - 1), max_size=12)), dtype=np.intp)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_exit_values_are_the_replaced_implementations_bits(
    case: tuple[Positions, np.ndarray, np.ndarray | None],
) -> None:
    positions, moves, rows = case
    moves = moves if rows is None else moves[rows]
    got = positions.exit_values(moves, rows)
    np.testing.assert_array_equal(_bits(got), _bits(reference_exit_values(positions, moves, rows)))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.integers(0, 13))
def test_the_time_left_is_the_exit_values_less_the_intrinsic_sums(
    case: tuple[Positions, np.ndarray, np.ndarray | None], columns: int
) -> None:
    positions, moves, _ = case
    columns = min(columns, moves.shape[1])
    intrinsic = np.zeros(moves.shape)
    expected = reference_exit_values(positions, moves, intrinsic_out=intrinsic)
    values, timed, left = positions.exit_and_time_left(moves, columns)
    np.testing.assert_array_equal(_bits(values), _bits(expected))
    assert sorted(timed.tolist()) == np.flatnonzero(positions.exit_sigma > 0).tolist()
    assert left.shape == (len(timed), columns)
    np.testing.assert_array_equal(_bits(left), _bits(expected[timed, :columns] - intrinsic[timed, :columns]))


def test_no_rows_and_no_legs_are_worth_nothing() -> None:
    positions = Positions.of([(), (Leg("put", 90.0, True, 1.0, 0.1),)], [100.0, 100.0], [0.03, 0.0], np.zeros(2))
    assert positions.exit_values(np.zeros((0, 4)), np.zeros(0, dtype=np.intp)).shape == (0, 4)
    values, timed, left = positions.exit_and_time_left(np.array([[-20.0, 5.0], [-20.0, 5.0]]), 2)
    np.testing.assert_array_equal(values, [[0.0, 0.0], [10.0, 0.0]])
    assert timed.tolist() == [0]
    np.testing.assert_array_equal(left, [[0.0, 0.0]])

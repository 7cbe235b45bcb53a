"""`round_trip_cost` on Python floats is numpy's sum of the legs' `fill_cost` float for float: any number of
legs (a few: added one by one; eight and more: numpy), random costs and bid-ask spreads (hypothesis); the
Reg-T margin's largest requirement is `np.argmax`'s."""

from __future__ import annotations

import numpy as np
import pytest

from ivcrush.settings import Costs
from ivcrush.training.economics import _first_largest, fill_cost, round_trip_cost

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_spreads = st.lists(st.floats(0.0, 50.0) | st.floats(1e-9, 1e-3) | st.floats(1e3, 1e12), min_size=0, max_size=12)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    _spreads,
    st.floats(0.0, 5.0),
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 1.0, 0.5, 3.0]),
    st.sampled_from([0.01, 0.05]),
    st.booleans(),
)
def test_round_trip_cost_is_numpys_sum_of_fills(
    entries: list[float], commission: float, share: float, ticks: float, tick: float, own_exits: bool
) -> None:
    costs = Costs(commission_per_contract=commission, slippage_share=share, slippage_ticks=ticks, tick_size=tick)
    exits = [2 * value for value in entries] if own_exits else None
    leaving = entries if exits is None else exits
    want = float(
        np.sum(fill_cost(costs, np.asarray(entries, dtype="float64")))
        + np.sum(fill_cost(costs, np.asarray(leaving, dtype="float64")))
    )
    assert round_trip_cost(costs, entries, exits) == want


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from([0.0, 1.0, 2.5, -1.0, float("nan"), float("inf")]) | st.floats(-10, 10), min_size=1))
def test_the_first_largest_is_numpys_argmax(values: list[float]) -> None:
    assert _first_largest(values) == int(np.argmax(values))

"""`payoff_one`'s P(loss) and Kelly size (Brent on Python floats: `brentq_few`, `brentq_one`) equal `payoff`'s and
`economics`' scipy-based forms float for float: random distributions, strangles and condors at random strikes,
credits and costs, exit volatilities, directions and equities (hypothesis, derandomized)."""

from __future__ import annotations

import numpy as np
import pytest

from ivcrush.serving.payoff import Leg, Position, evaluate, prob_loss
from ivcrush.serving.payoff_one import evaluate_one, kelly_one, prob_loss_one
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import log_optimal_contracts, signed_nodes

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def cases(draw: st.DrawFn) -> tuple[MoveDistribution, Position, float]:
    gaps = draw(st.lists(st.floats(0.05, 4.0), min_size=5, max_size=5))
    quantiles = np.cumsum([0.2, *gaps[1:]]) + gaps[0]
    distribution = MoveDistribution([quantiles], draw(st.floats(0.0, 0.8)), draw(st.floats(0.05, 1.2)))
    spot = draw(st.sampled_from([20.0, 57.3, 100.0, 430.0]))
    put, call = draw(st.floats(0.5, 25.0)), draw(st.floats(0.5, 25.0))
    premium = draw(st.floats(0.001, 0.08)) * spot
    legs = [
        Leg("put", spot * (1 - put / 100), True, premium, 0.05),
        Leg("call", spot * (1 + call / 100), True, premium, 0.06),
    ]
    if draw(st.booleans()):  # wings: an iron condor
        wing = draw(st.floats(0.5, 10.0))
        legs += [
            Leg("put", spot * (1 - (put + wing) / 100), False, premium / 4, 0.05),
            Leg("call", spot * (1 + (call + wing) / 100), False, premium / 4, 0.05),
        ]
    exit_sigma = draw(st.sampled_from([0.0, 0.0, 0.015, 0.06]))
    position = Position(tuple(legs), spot, exit_sigma, draw(st.floats(0.0, 30.0)))
    return distribution, position, draw(st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0]))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from([500.0, 25_000.0, 1e6]))
def test_prob_loss_and_kelly_are_the_scipy_forms(case: tuple[MoveDistribution, Position, float], equity: float) -> None:
    distribution, position, p_up = case
    assert prob_loss_one(position, distribution, p_up) == prob_loss(position, distribution, p_up)
    fast, slow = evaluate_one(position, distribution, p_up), evaluate(position, distribution, p_up)
    assert repr(fast) == repr(slow)
    assert fast.node_pnl.tobytes() == slow.node_pnl.tobytes()  # the nodes' P&L, priced among the loss grid's
    _, weights = signed_nodes(distribution, p_up)
    assert kelly_one(slow.node_pnl, weights, equity) == log_optimal_contracts(slow.node_pnl, weights, equity)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.lists(st.one_of(st.floats(-120.0, 120.0), st.sampled_from([0.0, -0.0, -100.0])), max_size=10))
def test_pnl_of_a_few_moves_on_floats_is_the_arrays(
    case: tuple[MoveDistribution, Position, float], moves: list[float]
) -> None:
    """`Position.pnl_of` (a break-even's root steps: a few moves as Python floats, with or without an exit
    volatility) is `Position.pnl` of their array, bit for bit."""
    _, position, _ = case
    expected = position.pnl(np.array(moves, dtype="float64")).reshape(-1)
    assert np.array(position.pnl_of(moves), dtype="float64").tobytes() == expected.tobytes()

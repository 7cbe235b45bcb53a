"""`decide_one` (serving's one-event path) gives, float for float, `decide`'s decision and the batch's
(`decide_many` of that one event): random forecasts, markets, directions, presets, accounts and costs
(hypothesis, derandomized), and the 200 pinned reference decisions. Its pieces agree with `payoff`'s and
`economics`' scipy-based forms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ivcrush.constants import TIER_PRESETS
from ivcrush.serving.market import MarketInputs
from ivcrush.serving.payoff import Leg, Position, evaluate, prob_loss
from ivcrush.serving.payoff_one import evaluate_one, kelly_one, prob_loss_one
from ivcrush.serving.pricing import black_scholes
from ivcrush.serving.strategy import decide, decide_one
from ivcrush.serving.strategy_batch import decide_many
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import log_optimal_contracts, signed_nodes
from tests.test_strategy_batch import events
from tests.test_strategy_reference import REFERENCE, _cases

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    events(),
    st.sampled_from(sorted(TIER_PRESETS)),
    st.sampled_from([0.75, 0.9]),
    st.sampled_from([Account(), Account(equity=2_000.0, kelly_fraction=1.0, max_risk_per_trade=1.0)]),
    st.sampled_from([Costs(), Costs(commission_per_contract=40.0, slippage_share=0.9)]),
)
def test_the_one_event_path_decides_as_decide_and_the_batch(
    event: tuple[np.ndarray, float, float, MarketInputs, float | None, float | None],
    preset: str,
    strike_quantile: float,
    account: Account,
    costs: Costs,
) -> None:
    quantiles, shape, scale, market, prob_up, hist = event
    options = {"account": account, "costs": costs, "preset": preset, "strike_quantile": strike_quantile}
    distribution = MoveDistribution([quantiles], shape, scale)
    one = decide_one(distribution, market=market, prob_up=prob_up, hist_mean_2_0_pct=hist, **options)  # type: ignore[arg-type]
    again = decide_one(distribution, market=market, prob_up=prob_up, hist_mean_2_0_pct=hist, **options)  # type: ignore[arg-type]
    reference = decide(
        MoveDistribution([quantiles], shape, scale),
        market=market,
        prob_up=prob_up,
        hist_mean_2_0_pct=hist,
        **options,  # type: ignore[arg-type]
    )
    (batch,) = decide_many(
        MoveDistribution([quantiles], shape, scale),
        markets=[market],
        prob_up=[prob_up],
        hist_mean_2_0_pct=[hist],
        **options,  # type: ignore[arg-type]
    )
    expected = json.dumps(reference.to_dict())
    assert json.dumps(one.to_dict()) == expected  # the first call, and with the distribution's kept q99
    assert json.dumps(again.to_dict()) == expected
    assert json.dumps(batch.to_dict()) == expected


def test_the_one_event_path_reproduces_the_pinned_reference_decisions() -> None:
    reference = json.loads(REFERENCE.read_text())
    for i, (distribution, options) in enumerate(_cases()):
        got = json.loads(json.dumps(decide_one(distribution, account=Account(), costs=Costs(), **options).to_dict()))  # type: ignore[arg-type]
        assert got == reference[i] or json.dumps(got) == json.dumps(reference[i]), f"case {i}"


@pytest.mark.parametrize("p_up", [0.0, 0.3, 0.5, 1.0])
def test_the_one_event_economics_and_kelly_are_payoffs_and_economics(p_up: float) -> None:
    """Strangle, put spread and iron condor whose P&L crosses zero on both sides (and a side of no weight)."""
    distribution = MoveDistribution([[1.0, 2.0, 3.5, 5.0, 8.0]], 0.2, 0.4)
    structures = [
        (Leg("put", 95.0, True, 1.2, 0.1), Leg("call", 105.0, True, 1.1, 0.1)),
        (Leg("put", 95.0, True, 1.2, 0.1), Leg("put", 90.0, False, 0.4, 0.1)),
        (
            Leg("put", 96.0, True, 1.5, 0.1),
            Leg("call", 104.0, True, 1.4, 0.1),
            Leg("put", 90.0, False, 0.3, 0.1),
            Leg("call", 110.0, False, 0.2, 0.1),
        ),
    ]
    for legs in structures:
        for exit_sigma in (0.0, 0.02):
            position = Position(legs, 100.0, exit_sigma, 3.0)
            assert prob_loss_one(position, distribution, p_up) == prob_loss(position, distribution, p_up)
            fast, slow = evaluate_one(position, distribution, p_up), evaluate(position, distribution, p_up)
            assert repr(fast) == repr(slow)
            np.testing.assert_array_equal(fast.node_pnl, slow.node_pnl)
            _, weights = signed_nodes(distribution, p_up)
            for equity in (1_000.0, 100_000.0):
                got = kelly_one(slow.node_pnl, weights, equity)
                assert got == log_optimal_contracts(slow.node_pnl, weights, equity)


@pytest.mark.parametrize("exit_sigma", [0.0, 0.03])
def test_exit_values_are_black_scholes_leg_by_leg(exit_sigma: float) -> None:
    """A few moves (Python floats) and many (arrays), spots at and below 0, a strike at 0: `black_scholes`;
    the P&L from them."""
    condor = (
        Leg("put", 96.0, True, 1.5, 0.1),
        Leg("call", 104.0, True, 1.4, 0.1),
        Leg("put", 90.0, False, 0.3, 0.1),
        Leg("call", 110.0, False, 0.2, 0.1),
    )
    moves = np.array([-150.0, -100.0, -37.5, -4.0, 0.0, 3.3, 12.0, 250.0])
    for legs in (condor, (*condor[:2], Leg("put", 0.0, False, 0.0, 0.1))):
        position = Position(legs, 100.0, exit_sigma, 3.0)
        for few in (moves[:3], moves, np.tile(moves, 5)):
            prices = np.maximum(100.0 * (1 + few / 100), 0.0)
            expected = np.zeros(len(few))
            for leg in legs:
                value = black_scholes(prices, leg.strike, exit_sigma, leg.kind)
                expected = expected + (value if leg.short else -value)
            np.testing.assert_array_equal(position.exit_value(few), expected)
            np.testing.assert_array_equal(position.pnl(few), 100 * (position.credit - expected) - position.cost)

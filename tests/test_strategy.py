"""Strategy rules on hand-made forecast distributions."""

from __future__ import annotations

import pytest

from ivcrush.serving.market import MarketInputs, StrategyError, check_implied_move, implied_move_from_straddle
from ivcrush.serving.pricing import black_scholes
from ivcrush.serving.strategy import decide, tier
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution


def _distribution(scale: float) -> MoveDistribution:
    """Quantiles of |move| = scale x a fixed shape, with the default tail."""
    return MoveDistribution([[0.3 * scale, 0.6 * scale, scale, 1.6 * scale, 2.3 * scale]])


def _market(implied: float, spot: float) -> MarketInputs:
    """A straddle quoted at the decision that expires at the reaction day's close (T = 1)."""
    return MarketInputs(spot=spot, implied_total_pct=implied)


@pytest.mark.parametrize("bad", [None, float("nan"), 0.0, -2.0, 50.01, 120.0])
def test_absurd_implied_moves_are_refused(bad: float | None) -> None:
    with pytest.raises(StrategyError):
        check_implied_move(bad)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf")])
def test_an_infinite_implied_move_is_named_not_called_missing(bad: float) -> None:
    with pytest.raises(StrategyError, match="is not a finite number"):
        check_implied_move(bad)


def test_implied_move_from_straddle() -> None:
    assert implied_move_from_straddle(5.0, 100.0) == pytest.approx(5.0)
    with pytest.raises(StrategyError):
        implied_move_from_straddle(5.0, 0.0)


def test_tiers_follow_the_presets() -> None:
    assert [tier(v) for v in (1.9, 1.5, 1.25, 1.1)] == ["excellent", "good", "marginal", "skip"]
    assert tier(1.5, "conservative") == "marginal"
    assert tier(1.5, "aggressive") == "excellent"
    assert tier(None) == "n/a"


def test_the_modelled_wing_model_reprices_the_straddle() -> None:
    """(Was: the market normal has the implied mean absolute move; the wing model is Black-Scholes now.)"""
    market = MarketInputs(spot=80.0, implied_total_pct=6.0, quote_days=4, decision_days=4, ordinary_move_pct=1.2)
    straddle = sum(float(black_scholes(80.0, 80.0, market.entry_sigma, kind)) for kind in ("put", "call"))
    assert straddle / 80.0 * 100 == pytest.approx(6.0, rel=1e-9)


def test_rich_premium_is_sold_outside_the_forecast_and_the_implied_move() -> None:
    distribution = _distribution(3.0)
    decision = decide(
        distribution,
        market=_market(8.0, 100.0),
        prob_up=None,
        account=Account(),
        costs=Costs(),
        hist_mean_2_0_pct=4.0,
    )
    assert decision.ev_per_contract > 0
    assert decision.recommendation.startswith("sell premium")
    distance = max(float(distribution.quantiles[0, -1]), 8.0)
    assert decision.short_put_strike <= 100 * (1 - distance / 100)
    assert decision.short_call_strike >= 100 * (1 + distance / 100)
    assert decision.contracts >= 1
    assert decision.contracts * decision.max_loss_per_contract <= 50_000 * 0.02
    assert set(decision.explain) >= {"vrp_ml", "vrp_2_0", "contracts", "strikes", "ev_per_contract"}


def test_cheap_premium_is_skipped_with_no_contracts() -> None:
    decision = decide(
        _distribution(6.0),
        market=_market(4.0, 50.0),
        prob_up=None,
        account=Account(),
        costs=Costs(),
        hist_mean_2_0_pct=6.0,
    )
    assert decision.ev_per_contract <= 0
    assert decision.recommendation == "skip"
    assert decision.contracts == 0


def test_direction_is_used_only_when_given() -> None:
    common = dict(market=_market(8.0, 100.0), account=Account(), costs=Costs(), hist_mean_2_0_pct=4.0)
    without = decide(_distribution(3.0), prob_up=None, **common)
    bullish = decide(_distribution(3.0), prob_up=0.75, **common)
    assert not without.direction_used
    assert bullish.direction_used and bullish.structure == "put credit spread"
    assert bullish.short_call_strike is None and bullish.long_put_strike < bullish.short_put_strike


def test_size_respects_the_caps() -> None:
    small = Account(equity=1_000_000, kelly_fraction=1.0, max_risk_per_trade=0.5, max_contracts=7)
    decision = decide(
        _distribution(1.0),
        market=_market(10.0, 20.0),
        prob_up=None,
        account=small,
        costs=Costs(),
        hist_mean_2_0_pct=2.0,
    )
    assert decision.contracts == 7
    assert decision.size_reason == "capped by max 7 contracts"


def test_each_explanation_names_its_own_costs_and_account() -> None:
    """The costs' and account's texts are reused only for the very object they were written for: alternating
    settings (equal ones as distinct objects included) each read their own numbers."""
    distribution, market = _distribution(4.0), _market(9.0, 100.0)
    settings = [
        (Costs(), Account()),
        (Costs(commission_per_contract=1.25, slippage_ticks=2.0), Account(equity=12_345.0, max_contracts=7)),
        (Costs(), Account()),
        (Costs(commission_per_contract=1.25, slippage_ticks=2.0), Account(equity=12_345.0, max_contracts=7)),
    ]
    for costs, account in settings:
        lines = decide(distribution, market=market, prob_up=None, account=account, costs=costs).explain
        assert f"${costs.commission_per_contract:g} commission" in lines["costs_per_contract"]
        assert f"(+{costs.slippage_ticks:g} ticks)" in lines["costs_per_contract"]
        assert f"of ${account.equity:,.0f} at the" in lines["contracts"]
        assert lines["contracts"].endswith(f"{account.max_contracts} contracts")

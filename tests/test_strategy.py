"""Strategy rules on hand-made forecast distributions."""

from __future__ import annotations

import numpy as np
import pytest

from ivcrush.serving.strategy import (
    StrategyError,
    check_implied_move,
    decide,
    expected_excess,
    implied_move_from_straddle,
    market_exceedance,
    tier,
)
from ivcrush.settings import Account


def _distribution(scale: float) -> tuple[dict[float, float], object]:
    """Quantiles of |move| = scale x a fixed shape, with its exceedance function."""
    quantiles = {0.1: 0.3 * scale, 0.25: 0.6 * scale, 0.5: scale, 0.75: 1.6 * scale, 0.9: 2.3 * scale}
    xs = np.array([0.0, *quantiles.values()])
    ps = np.array([1.0, 0.9, 0.75, 0.5, 0.25, 0.1])

    def exceeds(x: float | np.ndarray) -> float | np.ndarray:
        x = np.asarray(x, dtype="float64")
        value = np.where(x >= xs[-1], 0.1 * np.exp(-(x - xs[-1]) / scale), np.interp(x, xs, ps))
        return float(value) if value.ndim == 0 else value

    return quantiles, exceeds


@pytest.mark.parametrize("bad", [None, float("nan"), 0.0, -2.0, 50.01, 120.0])
def test_absurd_implied_moves_are_refused(bad: float | None) -> None:
    with pytest.raises(StrategyError):
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


def test_the_market_normal_has_the_implied_mean_abs_move() -> None:
    assert expected_excess(market_exceedance(6.0), 0.0, 80.0) == pytest.approx(6.0, rel=1e-3)


def test_rich_premium_is_sold_outside_the_forecast_and_the_implied_move() -> None:
    quantiles, exceeds = _distribution(3.0)
    decision = decide(
        quantiles=quantiles,
        exceeds=exceeds,
        implied_move_pct=8.0,
        spot=100.0,
        hist_mean_2_0_pct=4.0,
        prob_up=None,
        account=Account(),
    )
    assert decision.ev_per_contract > 0
    assert decision.recommendation.startswith("sell premium")
    distance = max(quantiles[0.9], 8.0)
    assert decision.short_put_strike <= 100 * (1 - distance / 100)
    assert decision.short_call_strike >= 100 * (1 + distance / 100)
    assert decision.contracts >= 1
    assert decision.contracts * decision.max_loss_per_contract <= 50_000 * 0.02
    assert set(decision.explain) >= {"vrp_ml", "vrp_2_0", "contracts", "strikes", "ev_per_contract"}


def test_cheap_premium_is_skipped_with_no_contracts() -> None:
    quantiles, exceeds = _distribution(6.0)
    decision = decide(
        quantiles=quantiles,
        exceeds=exceeds,
        implied_move_pct=4.0,
        spot=50.0,
        hist_mean_2_0_pct=6.0,
        prob_up=None,
        account=Account(),
    )
    assert decision.ev_per_contract <= 0
    assert decision.recommendation == "skip"
    assert decision.contracts == 0


def test_direction_is_used_only_when_given() -> None:
    quantiles, exceeds = _distribution(3.0)
    common = dict(quantiles=quantiles, exceeds=exceeds, implied_move_pct=8.0, spot=100.0, hist_mean_2_0_pct=4.0)
    without = decide(prob_up=None, account=Account(), **common)
    bullish = decide(prob_up=0.75, account=Account(), **common)
    assert not without.direction_used
    assert bullish.direction_used and bullish.structure == "put credit spread"
    assert bullish.short_call_strike is None and bullish.long_put_strike < bullish.short_put_strike


def test_size_respects_the_caps() -> None:
    quantiles, exceeds = _distribution(1.0)
    small = Account(equity=1_000_000, kelly_fraction=1.0, max_risk_per_trade=0.5, max_contracts=7)
    decision = decide(
        quantiles=quantiles,
        exceeds=exceeds,
        implied_move_pct=10.0,
        spot=20.0,
        hist_mean_2_0_pct=2.0,
        prob_up=None,
        account=small,
    )
    assert decision.contracts == 7

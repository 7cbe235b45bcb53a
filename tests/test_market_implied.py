"""Implied moves from the market store's option quotes and ordinary-day moves from its prices, as serving and
`backtest simulate` use them (the simulation's use: tests/test_backtest.py)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from ivcrush.serving.market import event_market, ordinary_move

QUOTED = {
    "opt_quote_implied_move_pct": 9.0,
    "opt_quote_earnings_move_pct": 8.5,
    "opt_quote_ordinary_move_pct": 1.5,
    "opt_quote_spot": 50.0,
    "opt_quote_expiration_days": 2,
    "vol_off_reaction_abs_move_mean_8q": 1.2,
}


def test_ordinary_move_from_daily_prices_first() -> None:
    move, source = ordinary_move({"vol_realized_20d_pct": 2.0, "vol_off_reaction_abs_move_mean_8q": 1.2})
    assert move == pytest.approx(2.0 * math.sqrt(2 / math.pi)) and "daily prices" in source
    move, source = ordinary_move({"vol_realized_20d_pct": None, "vol_off_reaction_abs_move_mean_8q": 1.2})
    assert move == 1.2 and "proxy" in source


def test_serving_reads_the_stored_quotes_straddle() -> None:
    """No implied move given: the market store's straddle before the decision, its spot and term structure."""
    market = event_market(QUOTED, {}, None, decision_date=date(2025, 12, 9), reaction_date=date(2025, 12, 10))
    assert market.implied_source == "market store quotes" and market.implied_total_pct == 9.0
    assert market.expiration == date(2025, 12, 12) and market.decision_days == 3
    assert market.spot == 50.0 and "put-call parity" in market.spot_source
    assert market.ordinary_move_pct == 1.5 and "term structure" in market.ordinary_source
    assert market.earnings_move_pct == pytest.approx(math.sqrt(9.0**2 - 2 * 1.5**2))
    user = event_market(
        QUOTED, {"implied_move_pct": 7.0}, None, decision_date=date(2025, 12, 9), reaction_date=date(2025, 12, 10)
    )
    assert user.implied_source == "user" and user.implied_total_pct == 7.0  # the user's word wins

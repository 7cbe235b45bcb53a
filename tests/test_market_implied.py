"""Implied moves from the market store's option quotes and ordinary-day moves from its prices, as serving and
`backtest simulate` use them."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from ivcrush.serving.market import event_market, ordinary_move
from ivcrush.training.backtest.forecasters import scaled_history_forecaster
from ivcrush.training.backtest.simulate import simulate_backtest
from tests.test_backtest import _events

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


def test_simulate_uses_quoted_implied_moves_before_assumptions() -> None:
    events = _events()
    quoted = events.index[::3]
    events["opt_quote_implied_move_pct"] = np.nan
    events.loc[quoted, "opt_quote_implied_move_pct"] = 7.5
    out = simulate_backtest(events, scaled_history_forecaster, k=1.0, min_train_events=20)["events"]
    market = out["implied_source"] == "market implied move"
    assert market.sum() > 50 and (market == out["opt_quote_implied_move_pct"].notna()).all()
    assert np.allclose(out.loc[market, "implied_move_pct"], 7.5)
    assert np.allclose(out.loc[~market, "implied_move_pct"], out.loc[~market, "hm_close_mean_12q_all_rows"])

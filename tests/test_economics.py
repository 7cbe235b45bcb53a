"""Position economics (issue 13): the earnings-only implied move, the payoff at the exit with the time value
left, credits from quotes or the wing model, costs, P(loss), Reg-T margin and log-optimal sizing, checked
against Monte Carlo over the same distribution (10^5 draws)."""

from __future__ import annotations

import itertools
import math
import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq

from ivcrush.serving.market import MarketInputs, StrategyError, event_market
from ivcrush.serving.payoff import Leg, Position, evaluate
from ivcrush.serving.pricing import (
    black_scholes,
    earnings_only_move,
    straddle_sigma,
    term_structure_split,
    trading_days_after,
)
from ivcrush.serving.quotes import read_market_csv
from ivcrush.serving.strategy import decide
from ivcrush.settings import Account, Costs, SettingsError, load_settings
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import (
    log_optimal_contracts,
    modelled_bid_ask,
    modelled_bid_asks,
    quantile_quadrature,
    reg_t_naked_margin,
    reg_t_short_option,
    round_trip_cost,
    signed_nodes,
)

DRAWS = 100_000
EQUITY = 50_000.0
# ASO's forecast on 2025-12-09 (q10..q90 of |move| in %)
ASO = MoveDistribution([[0.43, 1.29, 4.94, 7.09, 10.57]])
THIN = MoveDistribution([[0.2, 0.5, 1.0, 1.6, 2.3]], tail_shape=0.0, tail_scale=0.2)


def _positions(spot: float = 50.0) -> dict[str, Position]:
    """A naked strangle, an iron condor and a put credit spread around `spot`, with round-trip costs."""
    costs = Costs()
    strangle = (Leg("put", 44.0, True, 0.40, 0.06), Leg("call", 56.0, True, 0.42, 0.06))
    condor = (*strangle, Leg("put", 41.0, False, 0.12, 0.05), Leg("call", 59.0, False, 0.13, 0.05))
    spread = (Leg("put", 46.0, True, 0.70, 0.08), Leg("put", 43.0, False, 0.25, 0.06))
    return {
        name: Position(legs, spot, 0.0, round_trip_cost(costs, [leg.bid_ask for leg in legs]))
        for name, legs in {"strangle": strangle, "condor": condor, "spread": spread}.items()
    }


def _with_exit_sigma(position: Position, sigma: float) -> Position:
    return Position(position.legs, position.spot, sigma, position.cost)


def _monte_carlo(position: Position, distribution: MoveDistribution, p_up: float, seed: int = 5) -> np.ndarray:
    moves = np.asarray(distribution.sample(DRAWS, rng=seed, p_up=p_up)).reshape(-1)
    return position.pnl(moves)


# ----------------------------------------------------------------------------------- implied move


def test_the_earnings_only_implied_move_equals_the_total_when_T_is_1() -> None:
    assert earnings_only_move(9.1, 1.4, 1) == pytest.approx(9.1, abs=1e-12)
    market = MarketInputs(spot=50.0, implied_total_pct=9.1, quote_days=1, decision_days=1, ordinary_move_pct=3.0)
    assert market.earnings_move_pct == pytest.approx(9.1, abs=1e-12)
    assert market.exit_sigma == 0.0


def test_the_earnings_only_implied_move_removes_the_ordinary_days() -> None:
    market = MarketInputs(spot=50.0, implied_total_pct=9.1, quote_days=5, decision_days=3, ordinary_move_pct=1.4)
    assert market.earnings_move_pct == pytest.approx(math.sqrt(9.1**2 - 4 * 1.4**2))
    # at the decision two ordinary days are left in the straddle; after the reaction day, two remain to expiry
    assert market.implied_at_decision_pct == pytest.approx(math.sqrt(market.earnings_move_pct**2 + 2 * 1.4**2))
    assert market.exit_sigma == pytest.approx(1.4 * math.sqrt(math.pi / 2) / 100 * math.sqrt(2))
    assert earnings_only_move(3.0, 2.0, 6) == 0.0  # the ordinary days explain the whole straddle


def test_the_term_structure_recovers_the_earnings_and_ordinary_day_moves() -> None:
    earnings, ordinary = 8.0, 1.5
    near = (math.sqrt(earnings**2 + 2 * ordinary**2), 3)
    far = (math.sqrt(earnings**2 + 7 * ordinary**2), 8)
    split = term_structure_split(near, far)
    assert split is not None
    assert split == pytest.approx((earnings, ordinary))
    assert term_structure_split(far, near) == pytest.approx((earnings, ordinary))
    assert term_structure_split((9.0, 3), (8.0, 8)) is None


def test_trading_days_skip_weekends_and_holidays() -> None:
    assert trading_days_after(date(2025, 12, 5), date(2025, 12, 12)) == 5
    assert trading_days_after(date(2025, 12, 9), date(2025, 12, 12)) == 3
    assert trading_days_after(date(2025, 12, 24), date(2025, 12, 26)) == 1  # Christmas
    assert trading_days_after(date(2025, 12, 12), date(2025, 12, 12)) == 0


def test_an_iv_log_scan_counts_T_from_its_scan_and_the_decision() -> None:
    """ASO on 2025-12-09 (AMC): scanned Saturday 2025-12-06 for the 2025-12-12 expiration."""
    row = {
        "opt_implied_move_pct": 9.108,
        "opt_stock_price": 50.23,
        "opt_days_to_expiration": 2,
        "opt_scan_age_days": 3,
        "vol_off_reaction_abs_move_mean_8q": 1.2,
    }
    market = event_market(row, {}, None, decision_date=date(2025, 12, 9), reaction_date=date(2025, 12, 10))
    assert market.expiration == date(2025, 12, 12)
    assert (market.quote_days, market.decision_days) == (5, 3)
    assert market.earnings_move_pct == pytest.approx(math.sqrt(9.108**2 - 4 * 1.2**2))
    assert "proxy" in market.ordinary_source
    fallback = event_market(
        {**row, "vol_off_reaction_abs_move_mean_8q": None},
        {},
        None,
        decision_date=date(2025, 12, 9),
        reaction_date=date(2025, 12, 10),
    )
    assert "market-wide median" in fallback.ordinary_source
    user = event_market(
        row, {"implied_move_pct": 9.0}, None, decision_date=date(2025, 12, 9), reaction_date=date(2025, 12, 10)
    )
    assert user.quote_days == user.decision_days == 3
    with pytest.raises(StrategyError, match="before the reaction day"):
        event_market(
            {**row, "opt_days_to_expiration": -1},
            {},
            None,
            decision_date=date(2025, 12, 9),
            reaction_date=date(2025, 12, 10),
        )


# -------------------------------------------------------------------------- payoff, EV and P(loss)


@pytest.mark.parametrize("name", ["strangle", "condor", "spread"])
@pytest.mark.parametrize("exit_sigma", [0.0, 0.03])
@pytest.mark.parametrize("p_up", [0.5, 0.7])
def test_ev_and_prob_loss_agree_with_monte_carlo(name: str, exit_sigma: float, p_up: float) -> None:
    position = _with_exit_sigma(_positions()[name], exit_sigma)
    economics = evaluate(position, ASO, p_up)
    pnl = _monte_carlo(position, ASO, p_up)
    standard_error = pnl.std() / math.sqrt(DRAWS)
    assert economics.ev == pytest.approx(pnl.mean(), abs=4 * standard_error)
    loss = (pnl < 0).mean()
    assert economics.prob_loss == pytest.approx(loss, abs=4 * math.sqrt(loss * (1 - loss) / DRAWS) + 1e-4)


@pytest.mark.parametrize("name", ["strangle", "condor", "spread"])
def test_prob_loss_is_positive_wherever_the_distribution_reaches_past_break_even(name: str) -> None:
    """Even a forecast far inside the strikes has mass beyond them: the loss probability is small, never 0."""
    position = _positions()[name]
    economics = evaluate(position, THIN, 0.5)
    assert 0 < economics.prob_loss < 0.01
    breakeven = 100 * (1 - (46.0 if name == "spread" else 44.0) / 50.0)  # beyond the short strike at least
    assert economics.prob_loss >= 0.5 * float(THIN.sf(breakeven + 100 * position.credit / 50.0 + 1.0)) > 0


def test_the_time_value_left_at_the_exit_is_paid_back() -> None:
    at_expiry = _positions()["strangle"]
    with_days_left = _with_exit_sigma(at_expiry, 0.03)
    now, later = evaluate(at_expiry, ASO, 0.5), evaluate(with_days_left, ASO, 0.5)
    assert now.expected_time_value == 0.0
    assert later.expected_time_value > 0
    assert later.ev == pytest.approx(now.ev - later.expected_time_value)
    assert later.prob_loss > now.prob_loss


def test_ev_falls_as_costs_rise() -> None:
    market = MarketInputs(spot=50.0, implied_total_pct=9.0, quote_days=3, decision_days=3, ordinary_move_pct=1.4)
    evs, costs_paid = [], []
    for commission, share in [(0.0, 0.0), (0.65, 0.0), (0.65, 0.25), (1.5, 0.5), (5.0, 1.0)]:
        costs = Costs(commission_per_contract=commission, slippage_share=share)
        decision = decide(ASO, market=market, prob_up=None, account=Account(), costs=costs)
        evs.append(decision.ev_per_contract)
        costs_paid.append(decision.costs_per_contract)
        gross = decision.credit_per_contract - decision.expected_payout_per_contract
        assert decision.ev_per_contract == pytest.approx(gross - decision.costs_per_contract)
    assert all(a > b for a, b in itertools.pairwise(evs))
    assert all(a < b for a, b in itertools.pairwise(costs_paid))


def test_round_trip_costs_count_both_fills_of_every_leg() -> None:
    costs = Costs(commission_per_contract=0.65, slippage_share=0.5, slippage_ticks=1, tick_size=0.01)
    per_fill = 0.65 + 100 * (0.5 * 0.10 + 0.01)
    assert round_trip_cost(costs, [0.10, 0.10]) == pytest.approx(4 * per_fill)


# --------------------------------------------------------------------------------------- credits


def test_a_credit_spreads_credit_is_one_sides_value_at_most_its_width() -> None:
    """Modelled: the short put's less the long put's Black-Scholes value; the payout is the put side's only."""
    market = MarketInputs(spot=100.0, implied_total_pct=8.0)
    decision = decide(ASO, market=market, prob_up=0.75, account=Account(), costs=Costs())
    assert decision.structure == "put credit spread"
    sigma = market.entry_sigma
    one_side = float(black_scholes(100.0, decision.short_put_strike, sigma, "put")) - float(
        black_scholes(100.0, decision.long_put_strike, sigma, "put")
    )
    assert decision.credit_per_contract == pytest.approx(100 * one_side)
    assert decision.credit_per_contract <= 100 * (decision.short_put_strike - decision.long_put_strike)
    distance = 100 - decision.short_put_strike
    width = decision.short_put_strike - decision.long_put_strike
    put_side = 1 - 0.75
    assert decision.expected_payout_per_contract == pytest.approx(
        100 * put_side * float(ASO.expected_excess(distance, width))
    )


def _quotes_csv(tmp_path: Path, rows: list[str], header: str = "ticker,expiration,strike,type,bid,ask,spot") -> Path:
    path = tmp_path / "quotes.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


CHAIN = [
    f"ASO,2025-12-12,{k},{t},{b},{a},50.23"
    for k, t, b, a in [
        (50, "call", 2.45, 2.65),
        (50, "put", 1.95, 2.10),
        (56, "call", 0.40, 0.50),
        (57, "call", 0.30, 0.40),
        (62, "call", 0.08, 0.14),
        (44, "put", 0.35, 0.45),
        (43, "put", 0.28, 0.36),
        (38, "put", 0.05, 0.12),
    ]
]


def test_quoted_credits_are_market_mids_and_say_so(tmp_path: Path) -> None:
    csv = read_market_csv(_quotes_csv(tmp_path, CHAIN))
    assert csv.quotes is not None and len(csv.quotes) == len(CHAIN)
    row = {"vol_off_reaction_abs_move_mean_8q": 1.2}
    market = event_market(
        row,
        csv.implied.set_index("ticker").loc["ASO"].to_dict(),
        csv.quotes,
        decision_date=date(2025, 12, 9),
        reaction_date=date(2025, 12, 10),
    )
    assert market.implied_total_pct == pytest.approx((2.55 + 2.025) / 50.23 * 100)
    assert market.decision_days == 3 and market.credit_source == "market quotes"
    decision = decide(ASO, market=market, prob_up=0.75, account=Account(), costs=Costs())
    assert decision.credit_source == "market quotes"
    assert (decision.long_put_strike, decision.short_put_strike) in {(38.0, 43.0), (38.0, 44.0)}
    mids = csv.quotes.set_index(["strike", "type"])["mid"]
    one_side = mids[(decision.short_put_strike, "put")] - mids[(decision.long_put_strike, "put")]
    assert decision.credit_per_contract == pytest.approx(100 * one_side)
    assert decision.credit_per_contract <= 100 * (decision.short_put_strike - decision.long_put_strike)
    modelled = decide(
        ASO, market=MarketInputs(spot=50.23, implied_total_pct=9.1), prob_up=None, account=Account(), costs=Costs()
    )
    assert modelled.credit_source == "modelled" and "MODELLED" in modelled.explain["credit_per_contract"]


def test_two_quoted_expirations_give_the_term_structure(tmp_path: Path) -> None:
    later = [
        "ASO,2025-12-19,50,call,3.10,3.30,50.23",
        "ASO,2025-12-19,50,put,2.60,2.80,50.23",
    ]
    csv = read_market_csv(_quotes_csv(tmp_path, [*CHAIN, *later]))
    market = event_market(
        {}, {"spot": 50.23}, csv.quotes, decision_date=date(2025, 12, 9), reaction_date=date(2025, 12, 10)
    )
    assert market.ordinary_source.startswith("term structure")
    front = (2.55 + 2.025) / 50.23 * 100
    back = (3.20 + 2.70) / 50.23 * 100
    assert market.ordinary_move_pct == pytest.approx(math.sqrt((back**2 - front**2) / (8 - 3)))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ASO,2025-12-12,50,straddle,1,2,50", "type"),
        ("ASO,12/12/2025,50,put,1,2,50", "expiration"),
        ("ASO,2025-12-12,50,put,2,1,50", "below bid"),
        ("ASO,2025-12-12,-5,put,1,2,50", "strike"),
        ("AS;O,2025-12-12,50,put,1,2,50", "malformed ticker"),
    ],
)
def test_bad_quote_lines_are_refused_with_their_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(StrategyError, match=f"line 3: .*{message}"):
        read_market_csv(_quotes_csv(tmp_path, [CHAIN[0], line]))


# ---------------------------------------------------------------------------------- sizing, margin


def test_reg_t_margin_of_naked_short_options() -> None:
    # 20% of 100 - 10 out of the money + 1.5 premium = 11.5 per share
    assert reg_t_short_option(100.0, 110.0, 1.5, "call") == pytest.approx(11.5)
    # far out of the money: at least 10% (of the strike for a put) plus the premium
    assert reg_t_short_option(100.0, 70.0, 0.2, "put") == pytest.approx(7.2)
    # strangle: the larger side's requirement plus the other side's premium, per contract
    assert reg_t_naked_margin(100.0, [("put", 90.0, 1.0), ("call", 108.0, 1.2)]) == pytest.approx(100 * (13.2 + 1.0))


def _growth_maximiser(pnl: np.ndarray) -> float:
    """The contracts maximising the Monte Carlo mean of log(1 + c PnL / equity)."""
    ruin = EQUITY / -pnl.min()
    return brentq(lambda c: float(np.mean(pnl / (EQUITY + c * pnl))), 0.0, ruin * (1 - 1e-9))


@pytest.mark.parametrize(("name", "exit_sigma"), [("condor", 0.0), ("condor", 0.03), ("spread", 0.0)])
def test_the_log_optimal_size_agrees_with_monte_carlo(name: str, exit_sigma: float) -> None:
    position = _with_exit_sigma(_positions()[name], exit_sigma)
    moves, weights = signed_nodes(ASO, 0.5)
    ours = log_optimal_contracts(position.pnl(moves), weights, EQUITY)
    assert 0 < ours < EQUITY / position.max_loss
    assert ours == pytest.approx(_growth_maximiser(_monte_carlo(position, ASO, 0.5)), rel=0.05)


def test_the_log_optimal_size_of_a_naked_position_with_a_small_edge_agrees_with_monte_carlo() -> None:
    """A strangle near the money sold 5% above its expected payout: the optimum lies inside the ruin bound.
    Plain Monte Carlo's error on so small an edge is ~13% of it, so the draws are stratified: one |move| per
    1/10^5 of probability (random within it), random signs."""
    premium = 1.05 * 50.0 * float(ASO.expected_excess(6.0)) / 100 / 2
    legs = (Leg("put", 47.0, True, premium, 0.0), Leg("call", 53.0, True, premium, 0.0))
    position = Position(legs, 50.0, 0.0, 0.0)
    moves, weights = signed_nodes(ASO, 0.5)
    ours = log_optimal_contracts(position.pnl(moves), weights, EQUITY)
    worst = -float(position.pnl(np.array([moves.max()]))[0])
    assert 0 < ours < 0.9 * EQUITY / worst  # inside the ruin bound
    rng = np.random.default_rng(3)
    stratified = np.asarray(ASO.ppf((np.arange(DRAWS) + rng.random(DRAWS)) / DRAWS)).reshape(-1)
    moves = np.where(rng.random(DRAWS) < 0.5, -stratified, stratified)
    assert ours == pytest.approx(_growth_maximiser(position.pnl(moves)), rel=0.02)


def test_the_log_optimal_fraction_is_below_one_for_an_unbounded_loss() -> None:
    """A naked strangle with a huge edge (implied 20% against a forecast mean near 1%): the old binary Kelly
    reached 1.0; the log-optimal size never stakes the equity at the worst move planned for."""
    market = MarketInputs(spot=50.0, implied_total_pct=20.0)
    decision = decide(THIN, market=market, prob_up=None, account=Account(max_risk_per_trade=1.0), costs=Costs())
    assert decision.structure == "short strangle" and decision.margin_per_contract is not None
    assert 0 < decision.kelly_fraction_of_equity < 1
    nodes, _ = quantile_quadrature(THIN)
    assert nodes.max() >= 100.0  # planned for the stock to go to zero or double, however thin the forecast tail
    legs = (Leg("put", decision.short_put_strike, True, 0, 0), Leg("call", decision.short_call_strike, True, 0, 0))
    worst = -float(Position(legs, 50.0, 0.0, 0.0).pnl(np.array([-nodes.max(), nodes.max()])).min())
    full_kelly = decision.kelly_fraction_of_equity * EQUITY / decision.max_loss_per_contract
    assert full_kelly * (worst - decision.credit_per_contract) < EQUITY


def test_expensive_stocks_are_capped_by_margin_and_ranked_per_unit_of_risk() -> None:
    """AZO-like: one naked strangle on a $3,800 stock ties up more Reg-T margin than the account allows."""
    market = MarketInputs(spot=3800.0, implied_total_pct=8.0)
    decision = decide(ASO, market=market, prob_up=None, account=Account(), costs=Costs())
    assert decision.margin_per_contract > Account().equity * Account().max_margin_per_trade
    assert decision.contracts == 0 and "rounds down to 0" in decision.size_reason
    loose = Account(equity=1e6, kelly_fraction=1.0, max_risk_per_trade=1.0, max_margin_per_trade=0.05)
    capped = decide(ASO, market=market, prob_up=None, account=loose, costs=Costs())
    assert capped.size_reason.startswith("capped by margin (5% of equity")
    assert capped.contracts == math.floor(50_000 / capped.margin_per_contract)
    # the same trade on a stock twice as expensive: twice the dollar EV, the same EV per unit of risk
    double = decide(
        ASO, market=MarketInputs(spot=7600.0, implied_total_pct=8.0), prob_up=None, account=Account(), costs=Costs()
    )
    assert double.ev_per_contract == pytest.approx(2 * decision.ev_per_contract, rel=0.05)
    assert double.ev_per_risk == pytest.approx(decision.ev_per_risk, rel=0.05)
    assert decision.risk_per_contract == decision.margin_per_contract
    assert decision.ev_per_risk == pytest.approx(decision.ev_per_contract / decision.margin_per_contract)


def test_ev_below_costs_gives_no_size_and_says_so() -> None:
    market = MarketInputs(spot=50.0, implied_total_pct=6.5)
    decision = decide(ASO, market=market, prob_up=None, account=Account(), costs=Costs())
    gross = decision.credit_per_contract - decision.expected_payout_per_contract
    assert gross > 0 > decision.ev_per_contract
    assert decision.contracts == 0 and decision.size_reason.startswith("EV < costs")


# ------------------------------------------------------------------------------------ cost settings


def test_cost_settings_from_defaults_pyproject_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("IVCRUSH_COSTS_"):
            monkeypatch.delenv(name)
    assert load_settings(tmp_path).costs == Costs()
    (tmp_path / "pyproject.toml").write_text(
        "[tool.ivcrush.costs]\ncommission_per_contract = 1.0\nslippage_share = 0.5\n"
    )
    assert load_settings(tmp_path).costs == Costs(commission_per_contract=1.0, slippage_share=0.5)
    monkeypatch.setenv("IVCRUSH_COSTS_SLIPPAGE_SHARE", "0.1")
    assert load_settings(tmp_path).costs.slippage_share == 0.1
    for variable, value, message in [
        ("IVCRUSH_COSTS_SLIPPAGE_SHARE", "1.5", "from 0 to 1"),
        ("IVCRUSH_COSTS_COMMISSION_PER_CONTRACT", "-1", "from 0"),
        ("IVCRUSH_COSTS_TICK_SIZE", "cheap", "expected a number"),
    ]:
        monkeypatch.setenv(variable, value)
        with pytest.raises(SettingsError, match=message):
            load_settings(tmp_path)
        monkeypatch.delenv(variable)
    (tmp_path / "pyproject.toml").write_text("[tool.ivcrush.costs]\ncommision = 1.0\n")
    with pytest.raises(SettingsError, match="unknown"):
        load_settings(tmp_path)


def test_the_straddle_volatility_inverts_the_at_the_money_straddle() -> None:
    for implied in (0.5, 5.0, 20.0, 49.0):
        sigma = straddle_sigma(implied)
        straddle = float(black_scholes(100.0, 100.0, sigma, "put") + black_scholes(100.0, 100.0, sigma, "call"))
        assert straddle == pytest.approx(implied, rel=1e-9)


def test_quadrature_weights_integrate_the_distribution() -> None:
    nodes, weights = quantile_quadrature(ASO)
    assert weights.sum() == pytest.approx(1.0)
    assert float(np.sum(weights * nodes)) == pytest.approx(float(ASO.mean()), rel=1e-3)
    assert float(np.sum(weights * (nodes > 10.57))) == pytest.approx(0.1, abs=1e-9)
    assert pd.notna(nodes).all()


@given(
    st.lists(st.floats(min_value=0, max_value=1e6) | st.just(math.nan), max_size=30),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_modelled_bid_asks_are_each_values_modelled_bid_ask(values: list[float], share: float, floor: float) -> None:
    costs = Costs(modelled_bid_ask_share=share, min_bid_ask=floor)
    expected = [modelled_bid_ask(costs, value) for value in values]
    assert modelled_bid_asks(costs, np.array(values, dtype="float64")).tolist() == expected

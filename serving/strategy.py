"""Strategy: from one event's forecast `MoveDistribution` and its market (`MarketInputs`) to a
recommendation, a structure, strikes, economics and a position size.

- VRP compares the earnings-only implied move (the straddle less the ordinary days before expiration) with
  the forecast mean |move|.
- Credits are market mids where quotes are given, else modelled: Black-Scholes at the volatility that
  reprices the straddle at the decision (labelled "modelled" in every output).
- The position is closed at the reaction day's close: each leg bought back at Black-Scholes with the
  ordinary-day volatility left until expiration. Spreads receive one side's credit and pay on that side's
  moves only (P(up) = 0.5 unless the direction model passed its gate).
- EV, P(loss), stress loss and the log-optimal size come from the same distribution (`payoff`, `sizing`);
  commissions and slippage (`ivcrush.settings.Costs`) are subtracted everywhere.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, TIER_PRESETS
from ivcrush.serving.chain import listed_beyond
from ivcrush.serving.decision import Decision, explain
from ivcrush.serving.market import MarketInputs
from ivcrush.serving.one_event import one_event
from ivcrush.serving.payoff import Economics, Leg, Position, evaluate
from ivcrush.serving.payoff_one import evaluate_one, kelly_one
from ivcrush.serving.pricing import black_scholes_legs
from ivcrush.serving.sizing import size_position, wants_size
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import (
    log_optimal_contracts,
    modelled_bid_ask,
    reg_t_naked_margin,
    round_trip_cost,
    signed_nodes,
)

WING_MULTIPLE = 1.5
DIRECTION_THRESHOLD = 0.1  # |P(up) - 0.5| a gated direction needs before a one-sided spread is chosen


def tier(vrp: float | None, preset: str = "balanced") -> str:
    """2.0's VRP tier of a ratio under a preset."""
    if vrp is None or not math.isfinite(vrp):
        return "n/a"
    thresholds = TIER_PRESETS[preset]
    for name in ("excellent", "good", "marginal"):
        if vrp >= thresholds[name]:
            return name
    return "skip"


def strike_increment(spot: float) -> float:
    if spot < 25:
        return 0.5
    if spot < 200:
        return 1.0
    return 5.0


def _round_away(price: float, increment: float, down: bool) -> float:
    steps = math.floor(price / increment) if down else math.ceil(price / increment)
    return round(steps * increment, 2)


def choose_structure(
    quantiles: dict[float, float], distance: float, prob_up: float | None, p_beyond_wing: float
) -> tuple[str, float, str]:
    """(structure, confidence, why): a spread against a gated direction, an iron condor for heavy tails,
    else a short strangle (`p_beyond_wing`: P(|move| > WING_MULTIPLE x distance))."""
    median = quantiles[0.5]
    tail_ratio = quantiles[0.9] / median if median > 0 else math.inf
    if prob_up is not None and abs(prob_up - 0.5) >= DIRECTION_THRESHOLD:
        structure = "put credit spread" if prob_up > 0.5 else "call credit spread"
        why = f"direction model P(up) {prob_up:.0%} puts the short side against the move"
        return structure, min(1.0, abs(prob_up - 0.5) * 4), why
    why = f"tail ratio q90/q50 {tail_ratio:.2f}, P(|move| > {WING_MULTIPLE:g} x short distance) {p_beyond_wing:.0%}"
    if tail_ratio >= 2.5 or p_beyond_wing > 0.05:
        return "iron condor", min(1.0, max(tail_ratio / 2.5 - 0.5, p_beyond_wing / 0.1)), why
    return "short strangle", max(0.0, min(1.0, (2.5 - tail_ratio) / 1.5)), why


Target = tuple[str, float, bool]  # (kind, price the strike must reach, short)


def targets_of(structure: str, distance: float, spot: float) -> list[Target]:
    """The structure's legs as prices their strikes must reach: shorts `distance` % from spot, wings further."""
    targets: list[Target] = []
    if structure != "call credit spread":
        targets.append(("put", spot * (1 - distance / 100), True))
    if structure != "put credit spread":
        targets.append(("call", spot * (1 + distance / 100), True))
    if structure != "short strangle":
        targets += [(kind, spot + WING_MULTIPLE * (price - spot), False) for kind, price, _ in list(targets)]
    return targets


def quoted_legs(targets: list[Target], chain: pd.DataFrame) -> tuple[Leg, ...] | str:
    """Legs at the quoted strikes nearest each target on its far side, at their mids; else why not."""
    legs: list[Leg] = []
    shorts: dict[str, float] = {}
    for kind, price, short in targets:
        quote = listed_beyond(chain, kind, price, not_beyond=None if short else shorts.get(kind))
        if quote is None:
            return f"no quoted {kind} at or beyond {price:.2f}"
        strike = float(quote["strike"])
        shorts.setdefault(kind, strike)
        legs.append(Leg(kind, strike, short, float(quote["mid"]), float(quote["ask"] - quote["bid"])))
    return tuple(legs)


def modelled_strikes(targets: list[Target], spot: float) -> list[float]:
    """Listed-looking strikes at or beyond each target (puts rounded down, calls up)."""
    increment = strike_increment(spot)
    return [_round_away(price, increment, down=kind == "put") for kind, price, _ in targets]


def modelled_leg(kind: str, strike: float, short: bool, premium: float, costs: Costs) -> Leg:
    """A leg priced by the model, with the bid-ask spread assumed for its value."""
    return Leg(kind, strike, short, premium, modelled_bid_ask(costs, premium))


def _modelled_legs(targets: list[Target], market: MarketInputs, costs: Costs) -> tuple[Leg, ...]:
    """Legs at listed-looking strikes, priced by Black-Scholes (all legs at once) at the volatility that reprices
    the straddle."""
    strikes = modelled_strikes(targets, market.spot)
    calls = np.array([kind == "call" for kind, _, _ in targets])
    premiums = black_scholes_legs(market.spot, np.array(strikes), market.entry_sigma, calls)[0].tolist()
    return tuple(
        modelled_leg(kind, strike, short, premium, costs)
        for (kind, _, short), strike, premium in zip(targets, strikes, premiums, strict=True)
    )


def _strikes(legs: tuple[Leg, ...]) -> dict[tuple[str, bool], float]:
    """The strike of each (kind, short) of the legs: its first leg's, in one pass."""
    found: dict[tuple[str, bool], float] = {}
    for leg in legs:
        found.setdefault((leg.kind, leg.short), leg.strike)
    return found


def decide(
    distribution: MoveDistribution,
    *,
    market: MarketInputs,
    prob_up: float | None,
    account: Account,
    costs: Costs,
    hist_mean_2_0_pct: float | None = None,
    preset: str = "balanced",
    strike_quantile: float = 0.9,
) -> Decision:
    """Recommendation, structure, strikes, economics and size for selling premium into one event.

    `distribution`: the event's forecast of |move| (one event); `prob_up`: the direction model's P(up), None
    unless it passed its gate (then both sides are equally likely). `strategy_batch.decide_many` gives the same
    decisions for many events at once, `decide_one` for one event with fewer numpy calls."""
    options = _Options(prob_up, account, costs, hist_mean_2_0_pct, preset, strike_quantile)
    return _decide(distribution, market, options, one=False)


def decide_one(
    distribution: MoveDistribution,
    *,
    market: MarketInputs,
    prob_up: float | None,
    account: Account,
    costs: Costs,
    hist_mean_2_0_pct: float | None = None,
    preset: str = "balanced",
    strike_quantile: float = 0.9,
) -> Decision:
    """`decide` for one request: the same decision (the same floats), its economics and size by
    `payoff_one` (no scipy.optimize), the two exceedance probabilities in one call. Serving's one-event path."""
    options = _Options(prob_up, account, costs, hist_mean_2_0_pct, preset, strike_quantile)
    return _decide(distribution, market, options, one=True)


class _Options(NamedTuple):
    prob_up: float | None
    account: Account
    costs: Costs
    hist_mean_2_0_pct: float | None
    preset: str
    strike_quantile: float


def _decide(distribution: MoveDistribution, market: MarketInputs, options: _Options, *, one: bool) -> Decision:
    """`decide` (`one`: `decide_one`) of one event."""
    if len(distribution) != 1:
        raise ValueError(f"decide takes one event's distribution, got {len(distribution)}")
    prob_up, account, costs, hist_mean_2_0_pct, preset, strike_quantile = options
    event = one_event(distribution) if one else None
    levels = distribution.quantiles[0].tolist() if event is None else event.quantiles
    quantiles = dict(zip(QUANTILE_LEVELS, levels, strict=True))
    earnings = market.earnings_move_pct
    mean = float(distribution.mean()) if event is None else event.mean
    # Short strikes outside the chosen forecast quantile and never inside the earnings-only implied move.
    distance = max(quantiles[strike_quantile], earnings)
    if event is not None:
        p_breach, p_beyond_wing = event.sf([earnings, distance * WING_MULTIPLE])
    elif one:
        p_breach, p_beyond_wing = distribution.sf(np.array([earnings, distance * WING_MULTIPLE])).tolist()
    else:
        p_breach = float(distribution.sf(earnings))
        p_beyond_wing = float(distribution.sf(distance * WING_MULTIPLE))
    structure = choose_structure(quantiles, distance, prob_up, p_beyond_wing)
    targets = targets_of(structure[0], distance, market.spot)
    quoted = None if market.quotes is None else quoted_legs(targets, market.quotes)
    legs = quoted if isinstance(quoted, tuple) else _modelled_legs(targets, market, costs)
    position = Position(legs, market.spot, market.exit_sigma, round_trip_cost(costs, [leg.bid_ask for leg in legs]))
    p_up = 0.5 if prob_up is None else prob_up
    economics = (evaluate_one if one else evaluate)(position, distribution, p_up)
    full_kelly = 0.0
    if wants_size(economics.gross_ev, economics.ev):
        _, weights = signed_nodes(distribution, p_up)
        full_kelly = (kelly_one if one else log_optimal_contracts)(economics.node_pnl, weights, account.equity)
    return conclude(
        Case(quantiles, market, mean, p_breach, prob_up, hist_mean_2_0_pct, preset, strike_quantile),
        structure=structure,
        legs=legs,
        quotes_missing=quoted if isinstance(quoted, str) else None,
        naked=position.naked,
        economics=economics,
        full_kelly=full_kelly,
        account=account,
        costs=costs,
    )


class Case(NamedTuple):
    """One event's inputs to its decision besides the position: forecast quantiles, market, mean |move|,
    P(|move| > earnings-only implied), direction, 2.0's mean and the options."""

    quantiles: dict[float, float]
    market: MarketInputs
    mean: float
    p_breach: float
    prob_up: float | None
    hist_mean_2_0_pct: float | None
    preset: str
    strike_quantile: float


def conclude(
    case: Case,
    *,
    structure: tuple[str, float, str],
    legs: tuple[Leg, ...],
    quotes_missing: str | None,
    naked: bool,
    economics: Economics,
    full_kelly: float,
    account: Account,
    costs: Costs,
) -> Decision:
    """The decision from the event's case, its position's legs and economics and its full-Kelly size
    (computed where `wants_size`): tiers, recommendation, margin, risk, size and the explanation."""
    market, quantiles, prob_up, preset = case.market, case.quantiles, case.prob_up, case.preset
    earnings, mean, hist_mean_2_0_pct = market.earnings_move_pct, case.mean, case.hist_mean_2_0_pct
    vrp_ml = earnings / mean if mean > 0 else math.inf
    vrp_2_0 = earnings / hist_mean_2_0_pct if hist_mean_2_0_pct else None
    tier_ml, tier_2_0 = tier(vrp_ml, preset), tier(vrp_2_0, preset)
    naked_shorts = [(leg.kind, leg.strike, leg.premium) for leg in legs if leg.short] if naked else []
    margin = reg_t_naked_margin(market.spot, naked_shorts) if naked else None
    risk_label = "stress loss at q99" if naked else "max loss"
    cap_risk = max(economics.stress_loss if economics.max_loss is None else economics.max_loss, 1.0)
    rank_risk = max(margin if margin is not None else cap_risk, 1.0)

    if economics.ev <= 0 or tier_ml in {"skip", "n/a"}:
        recommendation = "skip"
    elif tier_ml == "excellent" and case.p_breach < 0.3:
        recommendation = "sell premium (strong)"
    elif tier_ml in {"excellent", "good"}:
        recommendation = "sell premium"
    else:
        recommendation = "sell premium (small)"
    blocked = None
    if tier_ml in {"skip", "n/a"}:
        marginal = TIER_PRESETS[preset]["marginal"]
        blocked = f"VRP {vrp_ml:.2f} below the {preset} tiers' marginal {marginal:g}: no trade"
    sizing = size_position(
        full_kelly=full_kelly,
        gross_ev=economics.gross_ev,
        ev=economics.ev,
        cost=economics.cost,
        risk_per_contract=cap_risk,
        risk_label=risk_label,
        margin_per_contract=margin,
        account=account,
        blocked=blocked,
    )
    structure_name, confidence, structure_why = structure
    strikes = _strikes(legs)
    decision = Decision(
        implied_total_pct=market.implied_total_pct,
        implied_earnings_pct=earnings,
        ordinary_move_pct=market.ordinary_move_pct,
        trading_days=market.decision_days,
        expiration=None if market.expiration is None else market.expiration.isoformat(),
        forecast_median_pct=quantiles[0.5],
        forecast_mean_pct=mean,
        hist_mean_2_0_pct=hist_mean_2_0_pct,
        prob_move_exceeds_implied=case.p_breach,
        straddle_ev_per_premium=(earnings - mean) / earnings if earnings > 0 else -math.inf,
        vrp_ml=vrp_ml,
        vrp_2_0=vrp_2_0,
        tier_ml=tier_ml,
        tier_2_0=tier_2_0,
        recommendation=recommendation,
        structure=structure_name,
        structure_confidence=round(confidence, 3),
        short_put_strike=strikes.get(("put", True)),
        short_call_strike=strikes.get(("call", True)),
        long_put_strike=strikes.get(("put", False)),
        long_call_strike=strikes.get(("call", False)),
        strike_quantile=case.strike_quantile,
        credit_source="market quotes" if market.quotes is not None and quotes_missing is None else "modelled",
        credit_per_contract=economics.credit,
        expected_payout_per_contract=economics.expected_intrinsic + economics.expected_time_value,
        costs_per_contract=economics.cost,
        ev_per_contract=economics.ev,
        prob_loss=economics.prob_loss,
        max_loss_per_contract=cap_risk,
        margin_per_contract=margin,
        risk_per_contract=rank_risk,
        ev_per_risk=economics.ev / rank_risk,
        kelly_fraction_of_equity=sizing.kelly_fraction_of_equity,
        contracts=sizing.contracts,
        size_limit=sizing.limit,
        size_reason=sizing.reason,
        direction_used=prob_up is not None,
        prob_up=0.5 if prob_up is None else prob_up,
    )
    decision.explain = explain(
        decision,
        market=market,
        economics=economics,
        sizing=sizing,
        account=account,
        costs=costs,
        quantiles=quantiles,
        preset=preset,
        structure_why=structure_why,
        quotes_missing=quotes_missing,
        risk_label=risk_label,
    )
    return decision

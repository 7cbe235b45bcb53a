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

import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, TIER_PRESETS
from ivcrush.serving.chain import listed_beyond
from ivcrush.serving.decision import Decision, explain
from ivcrush.serving.market import MarketInputs
from ivcrush.serving.payoff import Leg, Position, evaluate
from ivcrush.serving.pricing import black_scholes
from ivcrush.serving.sizing import size_position
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import modelled_bid_ask, reg_t_naked_margin, round_trip_cost, signed_nodes

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


def _choose_structure(
    distribution: MoveDistribution, quantiles: dict[float, float], distance: float, prob_up: float | None
) -> tuple[str, float, str]:
    """(structure, confidence, why): a spread against a gated direction, an iron condor for heavy tails,
    else a short strangle."""
    median = quantiles[0.5]
    tail_ratio = quantiles[0.9] / median if median > 0 else math.inf
    p_beyond_wing = float(distribution.sf(distance * WING_MULTIPLE))
    if prob_up is not None and abs(prob_up - 0.5) >= DIRECTION_THRESHOLD:
        structure = "put credit spread" if prob_up > 0.5 else "call credit spread"
        why = f"direction model P(up) {prob_up:.0%} puts the short side against the move"
        return structure, min(1.0, abs(prob_up - 0.5) * 4), why
    why = f"tail ratio q90/q50 {tail_ratio:.2f}, P(|move| > {WING_MULTIPLE:g} x short distance) {p_beyond_wing:.0%}"
    if tail_ratio >= 2.5 or p_beyond_wing > 0.05:
        return "iron condor", min(1.0, max(tail_ratio / 2.5 - 0.5, p_beyond_wing / 0.1)), why
    return "short strangle", max(0.0, min(1.0, (2.5 - tail_ratio) / 1.5)), why


Target = tuple[str, float, bool]  # (kind, price the strike must reach, short)


def _targets(structure: str, distance: float, spot: float) -> list[Target]:
    """The structure's legs as prices their strikes must reach: shorts `distance` % from spot, wings further."""
    targets: list[Target] = []
    if structure != "call credit spread":
        targets.append(("put", spot * (1 - distance / 100), True))
    if structure != "put credit spread":
        targets.append(("call", spot * (1 + distance / 100), True))
    if structure != "short strangle":
        targets += [(kind, spot + WING_MULTIPLE * (price - spot), False) for kind, price, _ in list(targets)]
    return targets


def _quoted_legs(targets: list[Target], chain: pd.DataFrame) -> tuple[Leg, ...] | str:
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


def _modelled_legs(targets: list[Target], market: MarketInputs, costs: Costs) -> tuple[Leg, ...]:
    """Legs at listed-looking strikes, priced by Black-Scholes at the volatility that reprices the straddle."""
    increment = strike_increment(market.spot)
    legs = []
    for kind, price, short in targets:
        strike = _round_away(price, increment, down=kind == "put")
        premium = float(black_scholes(market.spot, strike, market.entry_sigma, kind))
        legs.append(Leg(kind, strike, short, premium, modelled_bid_ask(costs, premium)))
    return tuple(legs)


def _strike(legs: tuple[Leg, ...], kind: str, short: bool) -> float | None:
    return next((leg.strike for leg in legs if leg.kind == kind and leg.short == short), None)


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
    unless it passed its gate (then both sides are equally likely)."""
    if len(distribution) != 1:
        raise ValueError(f"decide takes one event's distribution, got {len(distribution)}")
    quantiles = dict(zip(QUANTILE_LEVELS, distribution.quantiles[0].tolist(), strict=True))
    earnings = market.earnings_move_pct
    mean = float(distribution.mean())
    p_breach = float(distribution.sf(earnings))
    vrp_ml = earnings / mean if mean > 0 else math.inf
    vrp_2_0 = earnings / hist_mean_2_0_pct if hist_mean_2_0_pct else None
    tier_ml, tier_2_0 = tier(vrp_ml, preset), tier(vrp_2_0, preset)

    # Short strikes outside the chosen forecast quantile and never inside the earnings-only implied move.
    distance = max(quantiles[strike_quantile], earnings)
    structure, confidence, structure_why = _choose_structure(distribution, quantiles, distance, prob_up)
    targets = _targets(structure, distance, market.spot)
    quoted = None if market.quotes is None else _quoted_legs(targets, market.quotes)
    legs = quoted if isinstance(quoted, tuple) else _modelled_legs(targets, market, costs)
    quotes_missing = quoted if isinstance(quoted, str) else None
    position = Position(legs, market.spot, market.exit_sigma, round_trip_cost(costs, [leg.bid_ask for leg in legs]))
    p_up = 0.5 if prob_up is None else prob_up
    economics = evaluate(position, distribution, p_up)
    naked_shorts = [(leg.kind, leg.strike, leg.premium) for leg in legs if leg.short] if position.naked else []
    margin = reg_t_naked_margin(market.spot, naked_shorts) if position.naked else None
    risk_label = "stress loss at q99" if position.naked else "max loss"
    cap_risk = max(economics.stress_loss if economics.max_loss is None else economics.max_loss, 1.0)
    rank_risk = max(margin if margin is not None else cap_risk, 1.0)

    if economics.ev <= 0 or tier_ml in {"skip", "n/a"}:
        recommendation = "skip"
    elif tier_ml == "excellent" and p_breach < 0.3:
        recommendation = "sell premium (strong)"
    elif tier_ml in {"excellent", "good"}:
        recommendation = "sell premium"
    else:
        recommendation = "sell premium (small)"
    blocked = None
    if tier_ml in {"skip", "n/a"}:
        marginal = TIER_PRESETS[preset]["marginal"]
        blocked = f"VRP {vrp_ml:.2f} below the {preset} tiers' marginal {marginal:g}: no trade"
    _, weights = signed_nodes(distribution, p_up)
    sizing = size_position(
        pnl=economics.node_pnl,
        weights=weights,
        gross_ev=economics.gross_ev,
        ev=economics.ev,
        cost=economics.cost,
        risk_per_contract=cap_risk,
        risk_label=risk_label,
        margin_per_contract=margin,
        account=account,
        blocked=blocked,
    )
    decision = Decision(
        implied_total_pct=market.implied_total_pct,
        implied_earnings_pct=earnings,
        ordinary_move_pct=market.ordinary_move_pct,
        trading_days=market.decision_days,
        expiration=None if market.expiration is None else market.expiration.isoformat(),
        forecast_median_pct=quantiles[0.5],
        forecast_mean_pct=mean,
        hist_mean_2_0_pct=hist_mean_2_0_pct,
        prob_move_exceeds_implied=p_breach,
        straddle_ev_per_premium=(earnings - mean) / earnings if earnings > 0 else -math.inf,
        vrp_ml=vrp_ml,
        vrp_2_0=vrp_2_0,
        tier_ml=tier_ml,
        tier_2_0=tier_2_0,
        recommendation=recommendation,
        structure=structure,
        structure_confidence=round(confidence, 3),
        short_put_strike=_strike(legs, "put", True),
        short_call_strike=_strike(legs, "call", True),
        long_put_strike=_strike(legs, "put", False),
        long_call_strike=_strike(legs, "call", False),
        strike_quantile=strike_quantile,
        credit_source="market quotes" if isinstance(quoted, tuple) else "modelled",
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
        prob_up=p_up,
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

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
from dataclasses import asdict, dataclass, field

import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, TIER_PRESETS
from ivcrush.serving.chain import listed_beyond
from ivcrush.serving.market import MarketInputs
from ivcrush.serving.payoff import Economics, Leg, Position, evaluate
from ivcrush.serving.pricing import black_scholes
from ivcrush.serving.sizing import Sizing, size_position
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import modelled_bid_ask, reg_t_naked_margin, round_trip_cost, signed_nodes

WING_MULTIPLE = 1.5
DIRECTION_THRESHOLD = 0.1  # |P(up) - 0.5| a gated direction needs before a one-sided spread is chosen


@dataclass
class Decision:
    """Everything the trader sees for one event; `explain` holds one line per number. Money is dollars per
    contract; `max_loss_per_contract` is what the per-trade risk cap divides (the wing's max loss, or the
    stress loss at q99 for naked options); `risk_per_contract` ranks (max loss, or Reg-T margin)."""

    implied_total_pct: float
    implied_earnings_pct: float
    ordinary_move_pct: float
    trading_days: int
    expiration: str | None
    forecast_median_pct: float
    forecast_mean_pct: float
    hist_mean_2_0_pct: float | None
    prob_move_exceeds_implied: float
    straddle_ev_per_premium: float
    vrp_ml: float
    vrp_2_0: float | None
    tier_ml: str
    tier_2_0: str
    recommendation: str
    structure: str
    structure_confidence: float
    short_put_strike: float | None
    short_call_strike: float | None
    long_put_strike: float | None
    long_call_strike: float | None
    strike_quantile: float
    credit_source: str
    credit_per_contract: float
    expected_payout_per_contract: float
    costs_per_contract: float
    ev_per_contract: float
    prob_loss: float
    max_loss_per_contract: float
    margin_per_contract: float | None
    risk_per_contract: float
    ev_per_risk: float
    kelly_fraction_of_equity: float
    contracts: int
    size_limit: str
    size_reason: str
    direction_used: bool
    prob_up: float
    explain: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


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
    moves, weights = signed_nodes(distribution, p_up)
    sizing = size_position(
        pnl=position.pnl(moves),
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
    decision.explain = _explain(
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


def _explain(
    d: Decision,
    *,
    market: MarketInputs,
    economics: Economics,
    sizing: Sizing,
    account: Account,
    costs: Costs,
    quantiles: dict[float, float],
    preset: str,
    structure_why: str,
    quotes_missing: str | None,
    risk_label: str,
) -> dict[str, str]:
    """One line per number of the decision: what it is and where it comes from."""
    days = market.decision_days
    expiry = "expiration unknown" if d.expiration is None else f"expiring {d.expiration}"
    credit_how = (
        "market mids of the quoted strikes"
        if d.credit_source == "market quotes"
        else f"MODELLED: Black-Scholes at the volatility repricing the {market.implied_at_decision_pct:.2f}% straddle "
        "at the decision (no chain prices" + (f"; {quotes_missing}" if quotes_missing else "") + ")"
    )
    margin = "" if d.margin_per_contract is None else f"; Reg-T margin ${d.margin_per_contract:,.0f}"
    strikes = (d.short_put_strike, d.short_call_strike, d.long_put_strike, d.long_call_strike)
    legs = sum(strike is not None for strike in strikes)
    return {
        "implied_move_pct": (
            f"implied move: total {d.implied_total_pct:.2f}% ({market.implied_source}, straddle / spot, {expiry}), "
            f"earnings-only {d.implied_earnings_pct:.2f}% = sqrt(total^2 - (T - 1) x {d.ordinary_move_pct:.2f}%^2) "
            f"with T = {market.quote_days} trading day(s) from the quote to expiration"
        ),
        "ordinary_move_pct": (
            f"ordinary-day move {d.ordinary_move_pct:.2f}% mean |move| (sigma_d "
            f"{d.ordinary_move_pct * math.sqrt(math.pi / 2):.2f}%): {market.ordinary_source}"
        ),
        "forecast_median_pct": (
            f"forecast median |move| {d.forecast_median_pct:.2f}% "
            f"(q10 {quantiles[0.1]:.2f}%, q90 {quantiles[0.9]:.2f}%)"
        ),
        "forecast_mean_pct": f"forecast mean |move| {d.forecast_mean_pct:.2f}%, what the implied move is compared with",
        "hist_mean_2_0_pct": "2.0's mean of the last 12 stored moves: "
        + ("n/a" if d.hist_mean_2_0_pct is None else f"{d.hist_mean_2_0_pct:.2f}%"),
        "prob_move_exceeds_implied": (
            f"P(|move| > earnings-only implied {d.implied_earnings_pct:.2f}%) = {d.prob_move_exceeds_implied:.0%} "
            "under the forecast"
        ),
        "straddle_ev_per_premium": (
            f"the earnings day's straddle keeps {d.straddle_ev_per_premium:+.0%} of its premium on average"
        ),
        "vrp_ml": f"earnings-only implied / forecast mean = {d.vrp_ml:.2f} -> {d.tier_ml} ({preset} tiers)",
        "vrp_2_0": "earnings-only implied / 2.0 mean = "
        + ("n/a" if d.vrp_2_0 is None else f"{d.vrp_2_0:.2f} -> {d.tier_2_0}"),
        "structure": f"{d.structure}: {structure_why}; P(up) {d.prob_up:.0%} "
        + ("(direction model passed its gate)" if d.direction_used else "(no direction skill: either side)"),
        "strikes": f"shorts {max(quantiles[d.strike_quantile], d.implied_earnings_pct):.2f}% from spot "
        f"{market.spot:g} ({market.spot_source}): outside forecast q{round(d.strike_quantile * 100)} "
        f"{quantiles[d.strike_quantile]:.2f}% and never inside the earnings-only implied move",
        "credit_per_contract": f"${d.credit_per_contract:,.0f} credit ({d.credit_source}): {credit_how}",
        "expected_payout_per_contract": (
            f"${d.expected_payout_per_contract:,.0f} expected cost to close at the reaction day's close: "
            f"${economics.expected_intrinsic:,.0f} intrinsic + ${economics.expected_time_value:,.0f} time value "
            f"left for {days - 1} trading day(s) to expiration (Black-Scholes at sigma_d)"
        ),
        "costs_per_contract": (
            f"${d.costs_per_contract:,.0f} costs: ${costs.commission_per_contract:g} commission and "
            f"{costs.slippage_share:.0%} of the bid-ask (+{costs.slippage_ticks:g} ticks) per leg and fill, "
            f"opening and closing each of the {legs} leg(s)"
        ),
        "ev_per_contract": f"${d.ev_per_contract:,.0f} expected value = credit - expected cost to close - costs",
        "prob_loss": f"P(loss) {d.prob_loss:.2%}"
        + (" (below 0.01%, not 0)" if 0 < d.prob_loss < 5e-5 else "")
        + ": the forecast's mass where the P&L at the exit (costs included) is negative",
        "max_loss_per_contract": f"${d.max_loss_per_contract:,.0f} {risk_label}"
        + (" (naked: no defined max loss)" if d.margin_per_contract is not None else " (wing width - credit + costs)")
        + margin,
        "ev_per_risk": f"{d.ev_per_risk:+.1%} EV per ${d.risk_per_contract:,.0f} of risk "
        + ("(Reg-T margin)" if d.margin_per_contract is not None else "(max loss)")
        + ": the ranking",
        "contracts": (
            f"{d.contracts} contract(s): {sizing.reason}. Full Kelly (max E[log(1 + f PnL / equity)] over the "
            f"forecast, tail included) {sizing.full_kelly_contracts:.2f} contracts = "
            f"{sizing.kelly_fraction_of_equity:.1%} of ${account.equity:,.0f} at the {risk_label}; "
            f"multiplier {account.kelly_fraction:g}, caps {account.max_risk_per_trade:.0%} risk per trade, "
            f"{account.max_contracts} contracts"
        ),
    }

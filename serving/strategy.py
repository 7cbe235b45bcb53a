"""Strategy: from a forecast distribution of |move| and the market's implied move to a recommendation,
a structure, strikes and a position size.

There are no option-chain prices for arbitrary strikes in ivcrush.db, so option values away from the money
are estimated with one consistent approximation: the market's distribution of the reaction-day move is a
normal whose mean absolute move equals the implied move (straddle / spot), and an option sold at distance
k pays E[(|X| - k)+] on its side. Our expected payout uses the forecast distribution instead. The gap
between the two is the edge; every output says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import erfc

from ivcrush.constants import TIER_PRESETS
from ivcrush.errors import IvcrushError
from ivcrush.settings import Account

# x -> P(|move| > x), for a float or element-wise for an array of x
ExceedanceFunction = Callable[[float | np.ndarray], float | np.ndarray]
SQRT_HALF_PI = math.sqrt(math.pi / 2)
MAX_IMPLIED_MOVE_PCT = 50.0


@dataclass
class Decision:
    """Everything the trader sees for one event; `explain` holds one line per number."""

    implied_move_pct: float
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
    credit_per_contract: float
    expected_payout_per_contract: float
    ev_per_contract: float
    prob_loss: float
    max_loss_per_contract: float
    kelly_fraction_of_equity: float
    contracts: int
    direction_used: bool
    explain: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class StrategyError(IvcrushError, ValueError):
    """An input the strategy cannot work with (missing or absurd implied move, bad prices)."""


def check_implied_move(implied_move_pct: float | None) -> float:
    """The implied move in %, refused where missing, zero, negative or absurd."""
    if implied_move_pct is None or not math.isfinite(implied_move_pct):
        raise StrategyError("implied move missing: give --implied-move, --straddle with --spot, or a CSV")
    if implied_move_pct <= 0:
        raise StrategyError(f"implied move {implied_move_pct:g}% is not positive")
    if implied_move_pct > MAX_IMPLIED_MOVE_PCT:
        raise StrategyError(f"implied move {implied_move_pct:g}% is absurd (> {MAX_IMPLIED_MOVE_PCT:g}%)")
    return float(implied_move_pct)


def implied_move_from_straddle(straddle: float, spot: float) -> float:
    if spot <= 0 or straddle <= 0:
        raise StrategyError(f"straddle {straddle:g} and spot {spot:g} must both be positive")
    return check_implied_move(straddle / spot * 100)


def tier(vrp: float | None, preset: str = "balanced") -> str:
    """2.0's VRP tier of a ratio under a preset."""
    if vrp is None or not math.isfinite(vrp):
        return "n/a"
    thresholds = TIER_PRESETS[preset]
    for name in ("excellent", "good", "marginal"):
        if vrp >= thresholds[name]:
            return name
    return "skip"


def expected_excess(exceeds: ExceedanceFunction, k: float, upper: float) -> float:
    """E[(|X| - k)+] = integral from k to infinity of P(|X| > x) dx (trapezoid, to `upper`)."""
    xs = np.linspace(k, max(upper, k + 1e-9), 2001)
    return float(np.trapezoid(np.asarray(exceeds(xs), dtype="float64"), xs))


def market_exceedance(implied_move_pct: float) -> ExceedanceFunction:
    """P(|X| > x) under the market's normal with E|X| = implied move."""
    sigma = implied_move_pct * SQRT_HALF_PI

    def exceeds(x: float | np.ndarray) -> float | np.ndarray:
        value = erfc(np.asarray(x, dtype="float64") / (sigma * math.sqrt(2)))
        return float(value) if np.ndim(value) == 0 else value

    return exceeds


def strike_increment(spot: float) -> float:
    if spot < 25:
        return 0.5
    if spot < 200:
        return 1.0
    return 5.0


def _round_away(price: float, increment: float, down: bool) -> float:
    steps = math.floor(price / increment) if down else math.ceil(price / increment)
    return round(steps * increment, 2)


def decide(
    *,
    quantiles: dict[float, float],
    exceeds: ExceedanceFunction,
    implied_move_pct: float,
    spot: float,
    hist_mean_2_0_pct: float | None,
    prob_up: float | None,
    account: Account,
    preset: str = "balanced",
    strike_quantile: float = 0.9,
) -> Decision:
    """Recommendation, structure, strikes and size for selling premium into one earnings event."""
    implied = check_implied_move(implied_move_pct)
    if spot <= 0:
        raise StrategyError(f"spot price {spot:g} must be positive")
    upper = max(quantiles.values()) * 6 + implied * 6
    median = quantiles[0.5]
    mean = expected_excess(exceeds, 0.0, upper)
    p_breach_implied = float(exceeds(implied))
    straddle_ev = (implied - mean) / implied
    vrp_ml = implied / mean if mean > 0 else math.inf
    vrp_2_0 = implied / hist_mean_2_0_pct if hist_mean_2_0_pct else None
    tier_ml, tier_2_0 = tier(vrp_ml, preset), tier(vrp_2_0, preset)

    # Short strikes: outside the chosen forecast quantile, never inside the implied move.
    distance = max(quantiles[strike_quantile], implied)
    tail_ratio = quantiles[0.9] / median if median > 0 else math.inf
    direction = prob_up if prob_up is not None and abs(prob_up - 0.5) >= 0.1 else None
    direction_used = direction is not None
    p_beyond_wing = float(exceeds(distance * 1.5))
    if direction is not None:
        structure = "put credit spread" if direction > 0.5 else "call credit spread"
        structure_confidence = min(1.0, abs(direction - 0.5) * 4)
    elif tail_ratio >= 2.5 or p_beyond_wing > 0.05:
        structure = "iron condor"
        structure_confidence = min(1.0, max(tail_ratio / 2.5 - 0.5, p_beyond_wing / 0.1))
    else:
        structure = "short strangle"
        structure_confidence = min(1.0, (2.5 - tail_ratio) / 1.5)
    wing = distance * 1.5
    increment = strike_increment(spot)
    sells_put = structure != "call credit spread"
    sells_call = structure != "put credit spread"
    defined_risk = structure != "short strangle"
    short_put = _round_away(spot * (1 - distance / 100), increment, down=True) if sells_put else None
    short_call = _round_away(spot * (1 + distance / 100), increment, down=False) if sells_call else None
    long_put = _round_away(spot * (1 - wing / 100), increment, down=True) if sells_put and defined_risk else None
    long_call = _round_away(spot * (1 + wing / 100), increment, down=False) if sells_call and defined_risk else None

    # Per-contract economics (100 shares) under the market's and our distributions, per side.
    market = market_exceedance(implied)
    sides = []
    if short_put is not None:
        sides.append((100 * (1 - short_put / spot), None if long_put is None else 100 * (1 - long_put / spot)))
    if short_call is not None:
        sides.append((100 * (short_call / spot - 1), None if long_call is None else 100 * (long_call / spot - 1)))
    side_share = 0.5 if not direction_used else 1.0  # each side gets half of |X|'s tail unless one-sided
    credit = payout = 0.0
    for short_distance, long_distance in sides:
        market_value = expected_excess(market, short_distance, upper) * side_share
        our_value = expected_excess(exceeds, short_distance, upper) * side_share
        if long_distance is not None:
            market_value -= expected_excess(market, long_distance, upper) * side_share
            our_value -= expected_excess(exceeds, long_distance, upper) * side_share
        credit += market_value
        payout += our_value
    to_dollars = spot  # a 1% move on 100 shares is spot dollars
    credit_usd, payout_usd = credit * to_dollars, payout * to_dollars
    ev = credit_usd - payout_usd
    nearest = min(d for d, _ in sides)
    p_loss = float(exceeds(nearest + credit)) * (side_share if len(sides) == 1 else 1.0)
    if defined_risk:
        widths = [(long - short) for short, long in sides if long is not None]
        max_loss = max(widths) * to_dollars - credit_usd
    else:  # naked: size on a stress move, twice the strike quantile
        max_loss = max(2 * quantiles[0.9] - distance, distance) * to_dollars - credit_usd
    max_loss = max(max_loss, 1.0)

    win = credit_usd
    kelly = 0.0
    if ev > 0 and win > 0:
        kelly = max(0.0, (1 - p_loss) - p_loss * max_loss / win)
    risk_budget = account.equity * min(account.max_risk_per_trade, kelly * account.kelly_fraction)
    contracts = int(min(account.max_contracts, risk_budget // max_loss))
    hard_cap = account.equity * account.max_risk_per_trade
    if contracts == 0 and ev > 0 and kelly > 0 and max_loss <= hard_cap:
        contracts = 1

    if ev <= 0 or tier_ml in {"skip", "n/a"}:
        recommendation = "skip"
    elif tier_ml == "excellent" and p_breach_implied < 0.3:
        recommendation = "sell premium (strong)"
    elif tier_ml in {"excellent", "good"}:
        recommendation = "sell premium"
    else:
        recommendation = "sell premium (small)"

    explain = {
        "implied_move_pct": f"market's expected move: straddle / spot = {implied:.2f}%",
        "forecast_median_pct": (
            f"forecast median |move| {median:.2f}% (q10 {quantiles[0.1]:.2f}%, q90 {quantiles[0.9]:.2f}%)"
        ),
        "forecast_mean_pct": f"forecast mean |move| {mean:.2f}%, the expected cost of a sold straddle in % of spot",
        "hist_mean_2_0_pct": "2.0's mean of the last 12 stored moves: "
        + ("n/a" if hist_mean_2_0_pct is None else f"{hist_mean_2_0_pct:.2f}%"),
        "prob_move_exceeds_implied": f"P(|move| > implied {implied:.2f}%) = {p_breach_implied:.0%} under the forecast",
        "straddle_ev_per_premium": f"selling the straddle keeps {straddle_ev:+.0%} of the premium on average",
        "vrp_ml": f"implied / forecast mean = {vrp_ml:.2f} -> {tier_ml} ({preset} tiers)",
        "vrp_2_0": "implied / 2.0 mean = " + ("n/a" if vrp_2_0 is None else f"{vrp_2_0:.2f} -> {tier_2_0}"),
        "structure": f"{structure}: "
        + (
            f"direction model P(up) {direction:.0%} puts the short side against the move"
            if direction_used
            else f"tail ratio q90/q50 {tail_ratio:.2f}, P(|move| > 1.5 x short distance) {p_beyond_wing:.0%}"
        ),
        "strikes": f"shorts {distance:.2f}% from spot: outside forecast q{int(strike_quantile * 100)} "
        f"{quantiles[strike_quantile]:.2f}% and never inside the implied move",
        "credit_per_contract": (
            f"${credit_usd:,.0f} estimated credit (market normal with E|X| = implied; no chain prices)"
        ),
        "expected_payout_per_contract": f"${payout_usd:,.0f} expected payout at the forecast distribution",
        "ev_per_contract": f"${ev:,.0f} expected value per contract = credit - expected payout",
        "prob_loss": f"P(loss) {p_loss:.0%}: move beyond the nearest short strike plus the credit",
        "max_loss_per_contract": f"${max_loss:,.0f} "
        + ("max loss (wing width - credit)" if defined_risk else "stress loss at 2 x q90 (naked: undefined max)"),
        "contracts": f"{contracts} contract(s): {account.kelly_fraction:g} x Kelly {kelly:.2f}, capped at "
        f"{account.max_risk_per_trade:.0%} of ${account.equity:,.0f}; none when EV <= 0",
    }
    return Decision(
        implied_move_pct=implied,
        forecast_median_pct=median,
        forecast_mean_pct=mean,
        hist_mean_2_0_pct=hist_mean_2_0_pct,
        prob_move_exceeds_implied=p_breach_implied,
        straddle_ev_per_premium=straddle_ev,
        vrp_ml=vrp_ml,
        vrp_2_0=vrp_2_0,
        tier_ml=tier_ml,
        tier_2_0=tier_2_0,
        recommendation=recommendation,
        structure=structure,
        structure_confidence=round(max(0.0, structure_confidence), 3),
        short_put_strike=short_put,
        short_call_strike=short_call,
        long_put_strike=long_put,
        long_call_strike=long_call,
        strike_quantile=strike_quantile,
        credit_per_contract=credit_usd,
        expected_payout_per_contract=payout_usd,
        ev_per_contract=ev,
        prob_loss=p_loss,
        max_loss_per_contract=max_loss,
        kelly_fraction_of_equity=kelly,
        contracts=contracts,
        direction_used=direction_used,
        explain=explain,
    )

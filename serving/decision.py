"""What the trader sees of one event's decision: the `Decision` record and one explanation line per number."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ivcrush.serving.market import MarketInputs
from ivcrush.serving.payoff import Economics
from ivcrush.serving.sizing import Sizing
from ivcrush.settings import Account, Costs


def format_probability(p: float) -> str:
    """A probability in %, never shown as 0% where it is positive (nor 100% where it is below 1): one decimal
    below 10%, whole percents above, "<0.1%" / ">99.9%" at the ends."""
    if not math.isfinite(p):
        return "n/a"
    if 0 < p < 0.001:
        return "<0.1%"
    if 0.999 < p < 1:
        return ">99.9%"
    return f"{p:.1%}" if p < 0.1 or p > 0.9 else f"{p:.0%}"


def strike_ladder(decision: Decision) -> str:
    """The decision's strikes from the long put up to the long call, "90 / 95 / 105 / 110" (those it has)."""
    strikes = (
        decision.long_put_strike,
        decision.short_put_strike,
        decision.short_call_strike,
        decision.long_call_strike,
    )
    return " / ".join(f"{v:g}" for v in strikes if v is not None)


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
        """Every field as `dataclasses.asdict` gives it (its values are plain; `explain` copied), without its
        recursive deep copy."""
        out = {name: getattr(self, name) for name in _DECISION_FIELDS}
        out["explain"] = dict(self.explain)
        return out


_DECISION_FIELDS = tuple(f.name for f in fields(Decision))


def explain(
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
    naked = d.margin_per_contract is not None
    margin = f"; Reg-T margin ${d.margin_per_contract:,.0f}" if naked else ""
    legs = 4 - (d.short_put_strike, d.short_call_strike, d.long_put_strike, d.long_call_strike).count(None)
    earnings = f"{d.implied_earnings_pct:.2f}"
    ordinary = d.ordinary_move_pct
    at_quantile = quantiles[d.strike_quantile]
    equity, rules = _account_terms(account)
    return {
        "implied_move_pct": (
            f"implied move: total {d.implied_total_pct:.2f}% ({market.implied_source}, straddle / spot, {expiry}), "
            f"earnings-only {earnings}% = sqrt(total^2 - (T - 1) x {ordinary:.2f}%^2) "
            f"with T = {market.quote_days} trading day(s) from the quote to expiration"
        ),
        "ordinary_move_pct": (
            f"ordinary-day move {ordinary:.2f}% mean |move| (sigma_d "
            f"{ordinary * _SIGMA_PER_MEAN_MOVE:.2f}%): {market.ordinary_source}"
        ),
        "forecast_median_pct": (
            f"forecast median |move| {d.forecast_median_pct:.2f}% "
            f"(q10 {quantiles[0.1]:.2f}%, q90 {quantiles[0.9]:.2f}%)"
        ),
        "forecast_mean_pct": f"forecast mean |move| {d.forecast_mean_pct:.2f}%, what the implied move is compared with",
        "hist_mean_2_0_pct": "2.0's mean of the last 12 stored moves: "
        + ("n/a" if d.hist_mean_2_0_pct is None else f"{d.hist_mean_2_0_pct:.2f}%"),
        "prob_move_exceeds_implied": (
            f"P(|move| > earnings-only implied {earnings}%) = {d.prob_move_exceeds_implied:.0%} under the forecast"
        ),
        "straddle_ev_per_premium": (
            f"the earnings day's straddle keeps {d.straddle_ev_per_premium:+.0%} of its premium on average"
        ),
        "vrp_ml": f"earnings-only implied / forecast mean = {d.vrp_ml:.2f} -> {d.tier_ml} ({preset} tiers)",
        "vrp_2_0": "earnings-only implied / 2.0 mean = "
        + ("n/a" if d.vrp_2_0 is None else f"{d.vrp_2_0:.2f} -> {d.tier_2_0}"),
        "structure": f"{d.structure}: {structure_why}; P(up) {d.prob_up:.0%} "
        + ("(direction model passed its gate)" if d.direction_used else "(no direction skill: either side)"),
        "strikes": f"shorts {max(at_quantile, d.implied_earnings_pct):.2f}% from spot "
        f"{market.spot:g} ({market.spot_source}): outside forecast q{round(d.strike_quantile * 100)} "
        f"{at_quantile:.2f}% and never inside the earnings-only implied move",
        "credit_per_contract": f"${d.credit_per_contract:,.0f} credit ({d.credit_source}): {credit_how}",
        "expected_payout_per_contract": (
            f"${d.expected_payout_per_contract:,.0f} expected cost to close at the reaction day's close: "
            f"${economics.expected_intrinsic:,.0f} intrinsic + ${economics.expected_time_value:,.0f} time value "
            f"left for {days - 1} trading day(s) to expiration (Black-Scholes at sigma_d)"
        ),
        "costs_per_contract": (
            f"${d.costs_per_contract:,.0f} costs: {_costs_terms(costs)}, opening and closing each of the {legs} leg(s)"
        ),
        "ev_per_contract": f"${d.ev_per_contract:,.0f} expected value = credit - expected cost to close - costs",
        "prob_loss": (
            f"P(loss) {format_probability(d.prob_loss)}: the forecast's mass where the P&L at the exit "
            "(costs included) is negative"
        ),
        "max_loss_per_contract": f"${d.max_loss_per_contract:,.0f} {risk_label}"
        + (" (naked: no defined max loss)" if naked else " (wing width - credit + costs)")
        + margin,
        "ev_per_risk": f"{d.ev_per_risk:+.1%} EV per ${d.risk_per_contract:,.0f} of risk "
        + ("(Reg-T margin)" if naked else "(max loss)")
        + ": the ranking",
        "contracts": (
            f"{d.contracts} contract(s): {sizing.reason}. Full Kelly (max E[log(1 + f PnL / equity)] over the "
            f"forecast, tail included) {sizing.full_kelly_contracts:.2f} contracts = "
            f"{sizing.kelly_fraction_of_equity:.1%} of {equity} at the {risk_label}; {rules}"
        ),
    }


_SIGMA_PER_MEAN_MOVE = math.sqrt(math.pi / 2)  # a normal move's sigma per unit of mean |move|
# The texts of the last Costs and Account explained (a scan explains every event with the same ones), kept with
# the object they describe: reused only for that very object (frozen: the same fields, so the same text).
_COSTS_TERMS: list[tuple[Costs, str]] = []
_ACCOUNT_TERMS: list[tuple[Account, tuple[str, str]]] = []


def _costs_terms(costs: Costs) -> str:
    """What one fill of one leg costs, in words."""
    kept = _COSTS_TERMS[-1] if _COSTS_TERMS else None
    if kept is not None and kept[0] is costs:
        return kept[1]
    text = (
        f"${costs.commission_per_contract:g} commission and {costs.slippage_share:.0%} of the bid-ask "
        f"(+{costs.slippage_ticks:g} ticks) per leg and fill"
    )
    _COSTS_TERMS[:] = [(costs, text)]
    return text


def _account_terms(account: Account) -> tuple[str, str]:
    """The account's equity, and its sizing rules, in words."""
    kept = _ACCOUNT_TERMS[-1] if _ACCOUNT_TERMS else None
    if kept is not None and kept[0] is account:
        return kept[1]
    texts = (
        f"${account.equity:,.0f}",
        f"multiplier {account.kelly_fraction:g}, caps {account.max_risk_per_trade:.0%} risk per trade, "
        f"{account.max_contracts} contracts",
    )
    _ACCOUNT_TERMS[:] = [(account, texts)]
    return texts

"""The market side of one event: spot, the straddle's implied move, its expiration, the ordinary-day move,
and from them the earnings-only implied move and the volatilities at entry and at exit.

Sources, first found wins: per-strike quotes from the CSV (the at-the-money straddle of the first expiration
on or after the reaction day, quoted at the decision), an implied move given by the user (at the decision),
the workspace market store's latest quotes before the decision (`opt_quote_*`, the same straddle), 2.0's latest
iv_log scan before the decision (quoted on its scan date). The ordinary-day move is read from the term
structure where two quoted expirations hold the earnings day, else from the ticker's daily prices where the
market store has them (20-day realised volatility as a mean |move|: sd x sqrt(2/pi)), else from a proxy:
ivcrush.db has no daily prices, so the ticker's mean |close move| on its last 8 announcement days that were not
reaction days (after-close reports stored on the announcement day: `vol_off_reaction_abs_move_mean_8q`), else
a market-wide median of that proxy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.serving.chain import atm_straddles
from ivcrush.serving.pricing import (
    earnings_only_move,
    last_trading_day,
    move_to_sigma,
    straddle_sigma,
    term_structure_split,
    trading_days_after,
)

MAX_IMPLIED_MOVE_PCT = 50.0
UNKNOWN_SPOT = 100.0
ORDINARY_PROXY = "vol_off_reaction_abs_move_mean_8q"
REALISED_VOLATILITY = "vol_realized_20d_pct"  # sd of daily log returns in %, from the market store's prices
# The median over tickers of their latest ORDINARY_PROXY in the real snapshot (223 tickers, 2025): the
# ordinary-day move of a ticker without after-close announcement days.
ORDINARY_FALLBACK_PCT = 1.4


# The reason an event without an implied move is refused; each command says how to give one.
IMPLIED_MOVE_MISSING = "implied move missing: 2.0's iv_log has none for this event and none was given"


class StrategyError(IvcrushError, ValueError):
    """An input the strategy cannot work with (missing or absurd implied move, bad prices or quotes)."""


def check_implied_move(implied_move_pct: float | None) -> float:
    """The implied move in %, refused where missing, zero, negative or absurd."""
    if implied_move_pct is None or math.isnan(implied_move_pct):
        raise StrategyError(IMPLIED_MOVE_MISSING)
    if not math.isfinite(implied_move_pct):
        raise StrategyError(f"implied move {implied_move_pct:g}% is not a finite number")
    if implied_move_pct <= 0:
        raise StrategyError(f"implied move {implied_move_pct:g}% is not positive")
    if implied_move_pct > MAX_IMPLIED_MOVE_PCT:
        raise StrategyError(f"implied move {implied_move_pct:g}% is absurd (> {MAX_IMPLIED_MOVE_PCT:g}%)")
    return float(implied_move_pct)


def implied_move_from_straddle(straddle: float, spot: float) -> float:
    if spot <= 0 or straddle <= 0:
        raise StrategyError(f"straddle {straddle:g} and spot {spot:g} must both be positive")
    return check_implied_move(straddle / spot * 100)


@dataclass(frozen=True)
class MarketInputs:
    """One event's market: `quote_days` / `decision_days` count the trading days from the quote / the decision
    to expiration (the decision's T); the ordinary-day move is a mean |move| in %, like the implied moves."""

    spot: float
    implied_total_pct: float
    quote_days: int = 1
    decision_days: int = 1
    ordinary_move_pct: float = ORDINARY_FALLBACK_PCT
    ordinary_source: str = "market-wide median of the ordinary-day proxy"
    spot_source: str = "user"
    implied_source: str = "user"
    expiration: date | None = None
    earnings_move_pct: float = field(init=False)
    quotes: pd.DataFrame | None = field(default=None, compare=False)  # the expiration's chain, else modelled
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.spot <= 0:
            raise StrategyError(f"spot price {self.spot:g} must be positive")
        check_implied_move(self.implied_total_pct)
        if self.quote_days < 1 or self.decision_days < 1:
            raise StrategyError("the expiration must come after the quote and the decision")
        earnings = earnings_only_move(self.implied_total_pct, self.ordinary_move_pct, self.quote_days)
        object.__setattr__(self, "earnings_move_pct", earnings)

    @property
    def implied_at_decision_pct(self) -> float:
        """The straddle's implied move at the decision: earnings day plus the ordinary days left then."""
        return math.sqrt(self.earnings_move_pct**2 + (self.decision_days - 1) * self.ordinary_move_pct**2)

    @property
    def entry_sigma(self) -> float:
        """The total volatility that prices the options at the decision (it reprices the ATM straddle)."""
        return straddle_sigma(self.implied_at_decision_pct)

    @property
    def exit_sigma(self) -> float:
        """The volatility left at the exit (reaction-day close): the ordinary days until expiration."""
        return move_to_sigma(self.ordinary_move_pct) * math.sqrt(self.decision_days - 1)

    @property
    def credit_source(self) -> str:
        return "market quotes" if self.quotes is not None else "modelled"


_PLAIN_NUMBERS = (float, int)  # a tuple: `float | int` would build a union on every call


def number_or_none(value: object) -> float | None:
    """A served value as a float, None where missing or not a number (None, plain floats and ints directly:
    pandas takes 15 us for a None)."""
    if value is None:
        return None
    if isinstance(value, _PLAIN_NUMBERS):
        return None if math.isnan(value) else float(value)
    number = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(number) else float(number)


def _date(value: object) -> date | None:
    if value is None or (not isinstance(value, date) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


def ordinary_move(row: Mapping[str, object]) -> tuple[float, str]:
    """The ticker's ordinary-day mean |move| in % and where it comes from (see the module docstring)."""
    realised = number_or_none(row.get(REALISED_VOLATILITY))
    if realised is not None and realised > 0:
        return realised * math.sqrt(2 / math.pi), "daily prices: 20-day realised volatility x sqrt(2/pi)"
    proxy = number_or_none(row.get(ORDINARY_PROXY))
    if proxy is not None and proxy > 0:
        return proxy, (
            "proxy: mean |close move| of the ticker's last 8 after-close announcement days (not reaction days; "
            "ivcrush.db has no daily prices)"
        )
    return ORDINARY_FALLBACK_PCT, (
        "proxy: market-wide median of the tickers' ordinary-day proxy (this ticker has no after-close "
        "announcement days; ivcrush.db has no daily prices)"
    )


def event_market(
    row: Mapping[str, object],
    override: Mapping[str, object],
    quotes: pd.DataFrame | None,
    *,
    decision_date: date,
    reaction_date: date,
) -> MarketInputs:
    """The event's `MarketInputs` from its served features (`row`: 2.0's scan and the proxy), the user's
    `override` (implied_move_pct, spot, expiration) and its quotes; StrategyError where unusable."""
    spot = number_or_none(override.get("spot"))
    spot_source = "user"
    if spot is None:
        spot, spot_source = number_or_none(row.get("opt_stock_price")), "2.0 iv_log scan"
    ordinary, ordinary_source = ordinary_move(row)
    notes: list[str] = []
    if quotes is not None and not quotes.empty:
        if spot is None:
            raise StrategyError("quotes need the stock price: add a spot column")
        straddles = atm_straddles(quotes, spot, reaction_date)
        if not straddles:
            raise StrategyError(f"the quotes hold no put and call at one strike expiring on or after {reaction_date}")
        front = straddles[0]
        implied = check_implied_move(front.mid / spot * 100)
        days = trading_days_after(decision_date, front.expiration)
        if len(straddles) > 1:
            back = straddles[1]
            back_implied = back.mid / spot * 100
            split = term_structure_split(
                (implied, days), (back_implied, trading_days_after(decision_date, back.expiration))
            )
            if split is not None:
                ordinary = split[1]
                ordinary_source = (
                    f"term structure: straddles {front.expiration} ({implied:.2f}%) and {back.expiration} "
                    f"({back_implied:.2f}%)"
                )
            else:
                notes.append(
                    f"the {back.expiration} straddle adds no variance to the {front.expiration} one: "
                    "ordinary-day move from the proxy"
                )
        return MarketInputs(
            spot=spot,
            implied_total_pct=implied,
            quote_days=max(days, 1),
            decision_days=max(days, 1),
            ordinary_move_pct=ordinary,
            ordinary_source=ordinary_source,
            spot_source=spot_source,
            implied_source=f"quotes: {front.expiration} straddle at {front.strike:g}",
            expiration=front.expiration,
            quotes=quotes[quotes["expiration"] == front.expiration].reset_index(drop=True),
            notes=tuple(notes),
        )
    scan_expiration = None
    days_to_expiration = number_or_none(row.get("opt_days_to_expiration"))
    if days_to_expiration is not None:
        scan_expiration = reaction_date + timedelta(days=int(days_to_expiration))
    given = number_or_none(override.get("implied_move_pct"))
    stored = number_or_none(row.get("opt_quote_implied_move_pct"))
    if given is not None:
        implied, implied_source, quote_day = check_implied_move(given), "user", decision_date
        expiration = _date(override.get("expiration")) or scan_expiration
    elif stored is not None:
        implied, implied_source, quote_day = check_implied_move(stored), "market store quotes", decision_date
        expiration = reaction_date + timedelta(days=int(number_or_none(row.get("opt_quote_expiration_days")) or 0))
        if spot is None:
            spot, spot_source = number_or_none(row.get("opt_quote_spot")), "market store quotes (put-call parity)"
        term_ordinary = number_or_none(row.get("opt_quote_ordinary_move_pct"))
        if term_ordinary is not None and term_ordinary > 0:
            ordinary, ordinary_source = term_ordinary, "term structure of the market store's quotes"
    else:
        implied, implied_source = check_implied_move(number_or_none(row.get("opt_implied_move_pct"))), "2.0 iv_log scan"
        scan_age = number_or_none(row.get("opt_scan_age_days")) or 0.0
        quote_day = last_trading_day(decision_date - timedelta(days=int(scan_age)))
        expiration = scan_expiration
    if expiration is None:
        expiration = reaction_date
        notes.append(
            "expiration unknown: taken as the reaction day (T = 1, the whole implied move is the earnings day's)"
        )
    if expiration < reaction_date:
        raise StrategyError(f"the options expire on {expiration}, before the reaction day {reaction_date}")
    return MarketInputs(
        spot=spot if spot is not None else UNKNOWN_SPOT,
        implied_total_pct=implied,
        quote_days=max(trading_days_after(quote_day, expiration), 1),
        decision_days=max(trading_days_after(decision_date, expiration), 1),
        ordinary_move_pct=ordinary,
        ordinary_source=ordinary_source,
        spot_source=spot_source if spot is not None else "unknown: strikes and dollars per $100 of stock",
        implied_source=implied_source,
        expiration=expiration,
        notes=tuple(notes),
    )

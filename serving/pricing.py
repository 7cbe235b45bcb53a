"""Option pricing for the strategy: Black-Scholes (no rates, no dividends) on a total volatility, the
volatility that reprices a given at-the-money straddle, NYSE trading days, and the split of a straddle's
implied move into the earnings day and the ordinary days before expiration.

Units: moves and implied moves in % of spot as mean absolute moves (straddle / spot); a volatility
`sigma` is the standard deviation of the log price over the whole horizon, as a fraction. For a normal
move the two are tied by mean |X| = sigma sqrt(2 / pi), so sums of variances hold in either unit:
implied_total^2 = earnings^2 + (T - 1) ordinary_day^2.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import cache, lru_cache, partial

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ivcrush.settings import DBT_PROJECT_DIR

SQRT_HALF_PI = math.sqrt(math.pi / 2)
HOLIDAYS_SEED = DBT_PROJECT_DIR / "seeds" / "market_holidays.csv"
# Elements from which Black-Scholes runs on two threads, half of the rows each (numpy's and scipy's ufuncs release
# the GIL): a scan's positions at every quadrature move (~1e5 a kind); not one event's (~2e3, where handing
# over costs more than it saves).
TWO_THREADS_FROM = 32_768
_second_thread: list[ThreadPoolExecutor] = []  # made at the first big array; dropped in a forked child


def _on_two_threads(compute: Callable[..., np.ndarray], *arguments: np.ndarray | float) -> np.ndarray:
    """`compute(*arguments)` of broadcastable arrays, element-wise: for big ones the first half of the rows (axis 0)
    on a second thread, the rest here; the same values (each element's operations do not depend on the others)."""
    shape = np.broadcast_shapes(*(np.shape(argument) for argument in arguments))
    if math.prod(shape) < TWO_THREADS_FROM or shape[0] < 2:
        return compute(*arguments)
    half = shape[0] // 2

    def rows(chosen: slice) -> list[np.ndarray | float]:  # the arrays that span the rows, cut; the others whole
        return [
            a[chosen] if isinstance(a, np.ndarray) and a.ndim == len(shape) and len(a) == shape[0] else a
            for a in arguments
        ]

    if not _second_thread:
        _second_thread.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ivcrush-pricing"))
    pending = _second_thread[0].submit(compute, *rows(slice(None, half)))
    rest = compute(*rows(slice(half, None)))
    return np.concatenate([pending.result(), rest])


os.register_at_fork(after_in_child=_second_thread.clear)  # the thread is not copied into a child


def black_scholes(
    spot: float | np.ndarray, strike: float | np.ndarray, sigma: float | np.ndarray, kind: str
) -> np.ndarray:
    """Value per share of a European put or call; `sigma` the total log-price volatility to expiration
    (0 gives the intrinsic value). A spot at or below 0 is worth the strike for a put, nothing for a call; a
    strike at or below 0 is worth its intrinsic value."""
    if kind not in ("put", "call"):
        raise ValueError(f"option kind must be 'put' or 'call', not {kind!r}")
    values = (np.asarray(v, dtype="float64") for v in (spot, strike, sigma))
    return option_values(*values, call=kind == "call")[()]


def black_scholes_legs(spot: float | np.ndarray, strikes: np.ndarray, sigma: float, calls: np.ndarray) -> np.ndarray:
    """The values (m, L) of L options (`strikes`, `calls` True for a call) at m spots, one volatility: the
    same numbers as `black_scholes` leg by leg (puts and calls in one pass, unless some strike is not positive;
    computed leg by leg in rows over the spots, returned transposed)."""
    row = np.asarray(spot, dtype="float64").reshape(1, -1)
    if not sigma > 0:  # no time value: the intrinsic values (`option_values` of a 0-d sigma at or below 0)
        return _intrinsic_legs(row, strikes[:, None], calls[:, None]).T
    if strikes.size and np.minimum.reduce(strikes) > 0:  # strikes.min() without its Python wrapper
        return _on_two_threads(_legs_guarded, row, strikes[:, None], sigma, calls[:, None]).T
    column, sigma_array = row.reshape(-1, 1), np.asarray(sigma, dtype="float64")
    out = np.empty((column.shape[0], len(strikes)))
    for call in (False, True):
        chosen = calls == call
        if chosen.any():
            out[:, chosen] = option_values(column, strikes[chosen], sigma_array, call=call)
    return out


def _legs_guarded(row: np.ndarray, strikes: np.ndarray, sigma: float, calls: np.ndarray) -> np.ndarray:
    """`_spot_guarded` of every leg (L, 1) at the spots `row` (1, m), (L, m): each element the same operations
    as its kind's (a put's N(-d) as N(-1.0 x d), its value strike N(-d2) - spot N(-d1) chosen beside the
    call's)."""
    positive = row > 0
    everywhere = bool(np.logical_and.reduce(positive, axis=None))  # positive.all() without its Python wrapper
    d1 = np.log((row if everywhere else np.where(positive, row, 1.0)) / strikes) / sigma + sigma / 2
    d2 = d1 - sigma
    sign = np.where(calls, 1.0, -1.0)
    spot_part, strike_part = row * ndtr(sign * d1), strikes * ndtr(sign * d2)
    priced = np.maximum(np.where(calls, spot_part - strike_part, strike_part - spot_part), 0.0)
    if everywhere:
        return priced
    return np.where(positive, priced, _intrinsic_legs(row, strikes, calls))


def _intrinsic_legs(row: np.ndarray, strikes: np.ndarray, calls: np.ndarray) -> np.ndarray:
    """Every leg's (L, 1) intrinsic value at the spots `row` (1, m), as `option_values` gives it for its kind."""
    return np.where(calls, np.maximum(row - strikes, 0.0), np.maximum(strikes - np.maximum(row, 0.0), 0.0))


def option_values(spot: np.ndarray, strike: np.ndarray, sigma: np.ndarray, *, call: bool) -> np.ndarray:
    """Black-Scholes of broadcastable float arrays (see `black_scholes`); a 0-d `sigma` at or below 0 gives the
    intrinsic values."""
    if sigma.ndim == 0 and not sigma > 0:  # no time value anywhere: the intrinsic value
        positive_spot = spot if call else np.maximum(spot, 0.0)
        return np.maximum(spot - strike, 0.0) if call else np.maximum(strike - positive_spot, 0.0)
    if np.all(sigma > 0) and np.all(strike > 0):  # the common case, in fewer passes: only a spot can be 0
        return _on_two_threads(partial(_spot_guarded, call=call), spot, strike, sigma)
    positive = (spot > 0) & (sigma > 0) & (strike > 0)
    safe_spot = np.where(positive, spot, 1.0)
    safe_strike = np.where(positive, strike, 1.0)
    safe_sigma = np.where(positive, sigma, 1.0)
    d1 = np.log(safe_spot / safe_strike) / safe_sigma + safe_sigma / 2
    d2 = d1 - safe_sigma
    if call:
        priced = spot * ndtr(d1) - strike * ndtr(d2)
        intrinsic = np.maximum(spot - strike, 0.0)
    else:
        priced = strike * ndtr(-d2) - spot * ndtr(-d1)
        intrinsic = np.maximum(strike - np.maximum(spot, 0.0), 0.0)
    return np.where(positive, np.maximum(priced, 0.0), intrinsic)


def _spot_guarded(spot: np.ndarray, strike: np.ndarray, sigma: np.ndarray, *, call: bool) -> np.ndarray:
    """`option_values` where every strike and volatility is positive: the same numbers, the intrinsic value
    only where the spot is not."""
    positive = spot > 0
    everywhere = bool(positive.all())
    d1 = np.log((spot if everywhere else np.where(positive, spot, 1.0)) / strike) / sigma + sigma / 2
    d2 = d1 - sigma
    priced = spot * ndtr(d1) - strike * ndtr(d2) if call else strike * ndtr(-d2) - spot * ndtr(-d1)
    if everywhere:
        return np.maximum(priced, 0.0)
    intrinsic = np.maximum(spot - strike, 0.0) if call else np.maximum(strike - np.maximum(spot, 0.0), 0.0)
    return np.where(positive, np.maximum(priced, 0.0), intrinsic)


def straddle_sigma(implied_move_pct: float) -> float:
    """The total volatility at which the at-the-money Black-Scholes straddle costs `implied_move_pct` % of
    spot: straddle / spot = 2 (2 N(sigma / 2) - 1)."""
    share = implied_move_pct / 100
    if not 0 <= share < 2:
        raise ValueError(f"an at-the-money straddle of {implied_move_pct:g}% of spot has no volatility")
    return float(2 * ndtri(0.5 + share / 4))


def move_to_sigma(mean_abs_move_pct: float) -> float:
    """The log-price volatility (fraction) of a normal move with this mean absolute move in %."""
    return mean_abs_move_pct * SQRT_HALF_PI / 100


@cache
def _holidays() -> np.ndarray:
    return pd.read_csv(HOLIDAYS_SEED)["holiday_date"].to_numpy(dtype="datetime64[D]")


@lru_cache(maxsize=4096)  # a scan asks for the same few decision and expiration days again and again
def trading_days_after(start: date, end: date) -> int:
    """NYSE trading days d with start < d <= end (weekdays that are not holidays of the dbt seed)."""
    first = np.datetime64(start, "D") + 1
    last = np.datetime64(end, "D") + 1
    return int(np.busday_count(first, last, holidays=_holidays())) if last > first else 0


@lru_cache(maxsize=4096)
def last_trading_day(day: date) -> date:
    """`day` if it is a trading day, else the trading day before it."""
    rolled = np.busday_offset(np.datetime64(day, "D"), 0, roll="backward", holidays=_holidays())
    return pd.Timestamp(rolled).date()


def earnings_only_move(implied_total_pct: float, ordinary_move_pct: float, trading_days: int) -> float:
    """The earnings day's share of a straddle's implied move: sqrt(total^2 - (T - 1) ordinary^2), 0 where the
    ordinary days alone explain the straddle; the total itself when T = 1."""
    ordinary_variance = max(trading_days - 1, 0) * ordinary_move_pct**2
    return math.sqrt(max(implied_total_pct**2 - ordinary_variance, 0.0))


def term_structure_split(front: tuple[float, int], back: tuple[float, int]) -> tuple[float, float] | None:
    """(earnings-only move, ordinary-day move) from the implied moves of two expirations that both hold the
    earnings day, each (implied total %, trading days T); None where the back month's variance is not larger
    (no ordinary-day variance to read)."""
    (near, near_days), (far, far_days) = sorted([front, back], key=lambda pair: pair[1])
    if far_days <= near_days or far**2 <= near**2:
        return None
    ordinary = math.sqrt((far**2 - near**2) / (far_days - near_days))
    return earnings_only_move(near, ordinary, near_days), ordinary

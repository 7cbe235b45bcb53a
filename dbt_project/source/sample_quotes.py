"""Sample option quotes that agree with the sample prices: for each event decided within the prices, the chain
quoted at 15:45 New York on its decision day, two weekly expirations (the first Friday on or after the
reaction day and the next), five strikes around the close, calls and puts.

Priced by Black-Scholes (no rates) at a total variance of (T - 1) ordinary days plus one earnings day: the
ordinary day's from the ticker's last 20 daily returns, the earnings day's from its earnings-move scale with a
10% premium (the variance risk premium the strategy sells), T = trading days after the quote up to expiration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ivcrush.market.calendar import trading_days

EARNINGS_PREMIUM = 1.10
_SD_PER_SCALE = 1.38  # sd of a normal with the mean |move| of scale x t(3) (1.1 x sqrt(pi / 2))
_OFFSETS = np.arange(-2, 3)


def _strike_step(spot: np.ndarray) -> np.ndarray:
    return np.select([spot < 25, spot < 100, spot < 400], [0.5, 1.0, 2.5], 10.0)


def _events(calendar: pd.DataFrame, days: np.ndarray) -> pd.DataFrame:
    """Calendar events with reaction, decision and expiration dates (trading days of `days`)."""
    date = calendar["earnings_date"].to_numpy(dtype="datetime64[D]")
    amc = calendar["timing"].eq("AMC").to_numpy()
    at = np.searchsorted(days, date, side="right") - 1  # the last trading day on or before the date
    on_or_after = np.searchsorted(days, date)
    reaction = np.where(amc, at + 1, on_or_after)
    ok = (reaction - 1 >= 0) & (reaction < days.size)
    reaction_day = days[np.clip(reaction, 0, days.size - 1)]
    front = reaction_day + ((4 - (reaction_day.astype(np.int64) + 3) % 7) % 7).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "ticker": calendar["ticker"].to_numpy(),
            "decision": days[np.clip(reaction - 1, 0, days.size - 1)],
            "front": front,
        }
    )[ok]


def sample_quotes(prices: pd.DataFrame, calendar: pd.DataFrame, scales: pd.Series, seed: int) -> pd.DataFrame:
    """Quotes (ticker, as_of, expiration, strike, type, bid, ask, iv) for the calendar's events decided within
    `prices`; `scales` is each ticker's earnings-move scale in %."""
    rng = np.random.default_rng([seed, 19])
    bars = prices.assign(date=pd.to_datetime(prices["date"])).sort_values(["ticker", "date"])
    returns = np.log(bars["close"] / bars.groupby("ticker")["close"].shift())
    bars["sd20"] = returns.groupby(bars["ticker"]).transform(lambda r: r.rolling(20, min_periods=15).std())
    days = trading_days(bars["date"].min(), bars["date"].max())
    events = _events(calendar[calendar["ticker"].isin(scales.index)], days)
    events["decision"] = pd.to_datetime(events["decision"])
    events = events.merge(bars, left_on=["ticker", "decision"], right_on=["ticker", "date"]).dropna(subset=["sd20"])
    rows = []
    for week in (0, 7):
        expiration = events["front"].to_numpy(dtype="datetime64[D]") + np.timedelta64(week, "D")
        t_days = np.array([np.busday_count(d + 1, e + 1) for d, e in zip(
            events["decision"].to_numpy(dtype="datetime64[D]"), expiration, strict=True)])  # fmt: skip
        t_days = np.maximum(t_days, 1)
        earnings_sd = scales.loc[events["ticker"]].to_numpy() / 100 * _SD_PER_SCALE * EARNINGS_PREMIUM
        total_sd = np.sqrt((t_days - 1) * events["sd20"].to_numpy() ** 2 + earnings_sd**2)
        spot = events["close"].to_numpy()
        step = _strike_step(spot)
        for offset in _OFFSETS:
            strike = np.round(spot / step) * step + offset * step
            d1 = (np.log(spot / strike) + total_sd**2 / 2) / total_sd
            call = spot * ndtr(d1) - strike * ndtr(d1 - total_sd)
            put = call - spot + strike
            for kind, mid in (("C", call), ("P", put)):
                mid = np.maximum(mid, 0.01) * np.exp(rng.normal(0, 0.01, mid.size))
                half = np.maximum(0.025, 0.04 * mid)
                rows.append(
                    pd.DataFrame(
                        {
                            "ticker": events["ticker"].to_numpy(),
                            "as_of": (events["decision"] + pd.Timedelta(hours=15, minutes=45))
                            .dt.tz_localize("America/New_York")
                            .dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            "expiration": np.datetime_as_string(expiration, unit="D"),
                            "strike": strike,
                            "type": kind,
                            "bid": np.round(np.maximum(mid - half, 0.0), 2),
                            "ask": np.round(mid + half, 2),
                            "iv": total_sd / np.sqrt(t_days / 252),
                        }
                    )
                )
    quotes = pd.concat(rows, ignore_index=True)
    return quotes[quotes["strike"] > 0].reset_index(drop=True)

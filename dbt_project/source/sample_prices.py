"""Sample daily prices that agree with a (sample) 2.0 database: every stored move is a bar of the price series.

Per ticker, on the NYSE trading days of the `market_holidays` seed: a BMO/DMH row's OHLC is the bar of its
reaction day (the earnings date, or the next trading day) and its prev_close the close before; an AMC row,
stored on the announcement day as 2.0 does, is that day's bar, and the reaction comes the next trading day
(a fresh earnings-sized move). Between those fixed bars the closes follow a Brownian bridge at an ordinary
daily volatility; before the first and after the last they walk freely. The index series `SPY` and `^VIX`
share one volatility regime. Deterministic for a given database and seed; its own random generator, so the
database itself does not change.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ivcrush.market.calendar import trading_days
from ivcrush.market.schema import INDEX_TICKER, PRICES, QUOTES, VIX_TICKER
from ivcrush.market.store import WriteResult, write_rows
from ivcrush.settings import Settings
from ivcrush.source.reader import read_source
from ivcrush.source.sample_quotes import sample_quotes

HISTORY_BEFORE_FIRST_EVENT_DAYS = 420  # calendar days of bars before a ticker's first stored event
ORDINARY_TO_SCALE = 0.45  # daily volatility as a share of the ticker's earnings-move scale (sample_market)
_T3_MEDIAN_ABS = 0.765  # median |t(3)|: stored BMO moves ~ scale * t(3), AMC announcement days ~ 0.38 * that


def _events(db: Path) -> tuple[pd.DataFrame, date]:
    """Stored moves with their calendar timing, and the last day the prices cover (the trading day after the
    latest stored move)."""
    tables = read_source(db).tables
    moves = tables["historical_moves"].copy()
    calendar = tables["earnings_calendar"][["ticker", "earnings_date", "timing"]]
    moves["ticker"] = moves["ticker"].str.strip().str.upper()
    timing = calendar.assign(ticker=calendar["ticker"].str.strip().str.upper()).drop_duplicates(
        ["ticker", "earnings_date"]
    )
    moves = moves.merge(timing[["ticker", "earnings_date", "timing"]], on=["ticker", "earnings_date"], how="left")
    moves["timing"] = moves["timing"].fillna("UNKNOWN")
    last_move = np.datetime64(pd.Timestamp(moves["earnings_date"].max()).date(), "D")
    end = trading_days(last_move + 1, last_move + 10)[0]  # an AMC reaction the day after the last stored move
    return moves.sort_values(["ticker", "earnings_date"]).reset_index(drop=True), end.astype(date)


def move_scale(rows: pd.DataFrame) -> float:
    """The ticker's earnings-move scale in %, from its stored moves (AMC rows are ordinary days)."""
    move = (rows["earnings_close"] / rows["prev_close"] - 1).abs() * 100
    amc = rows["timing"].eq("AMC").to_numpy()
    estimates = [*(move[~amc] / _T3_MEDIAN_ABS), *(move[amc] / (0.38 * _T3_MEDIAN_ABS))]
    return float(np.clip(np.median(estimates), 0.8, 25.0)) if estimates else 4.2


def _fixed_bars(rng: np.random.Generator, rows: pd.DataFrame, days: np.ndarray, scale: float) -> dict[int, tuple]:
    """Bars fixed by the stored rows: day index -> (open, high, low, close, volume); NaN OHLC = close only."""
    fixed: dict[int, tuple] = {}
    nan = float("nan")
    for row in rows.itertuples(index=False):
        day = np.datetime64(pd.Timestamp(row.earnings_date).date(), "D")
        amc = row.timing == "AMC"
        at = int(np.searchsorted(days, day, side="right") - 1 if amc else np.searchsorted(days, day))
        bar = (row.earnings_open, row.earnings_high, row.earnings_low, row.earnings_close, row.volume_earnings)
        wanted = {at - 1: (nan, nan, nan, row.prev_close, row.volume_before), at: bar}
        if amc and at + 1 < len(days):  # the reaction the stored announcement-day row does not show
            move = float(np.clip(scale / 100 * np.clip(rng.standard_t(3), -12, 12), -0.85, 3.0))
            gap = move * rng.uniform(0.55, 1.1)
            close, open_ = row.earnings_close * (1 + move), row.earnings_close * (1 + np.clip(gap, -0.85, 3.0))
            wick = scale / 100 * 0.45
            high = max(open_, close) * (1 + rng.exponential(wick))
            low = min(open_, close) * (1 - min(rng.exponential(wick), 0.5))
            wanted[at + 1] = (open_, high, low, close, row.volume_earnings * rng.lognormal(0.3, 0.3))
        if min(wanted) < 0 or any(i in fixed for i in wanted) or at >= len(days):
            continue  # two stored rows on one bar (or outside the range): the first one is kept
        fixed.update(wanted)
    return fixed


def _closes(rng: np.random.Generator, n: int, fixed: dict[int, tuple], sigma: float) -> np.ndarray:
    """Log closes through the fixed ones: bridges between them, free walks before and after."""
    log_close = np.full(n, np.nan)
    anchors = sorted(fixed)
    for i in anchors:
        log_close[i] = np.log(fixed[i][3])
    first, last = anchors[0], anchors[-1]
    log_close[:first] = log_close[first] - np.cumsum(rng.normal(0, sigma, first))[::-1]
    log_close[last + 1 :] = log_close[last] + np.cumsum(rng.normal(0.0002, sigma, n - last - 1))
    for i, j in itertools.pairwise(anchors):
        k = j - i
        if k > 1:
            walk = np.cumsum(rng.normal(0, sigma, k))
            share = np.arange(1, k) / k
            log_close[i + 1 : j] = log_close[i] + share * (log_close[j] - log_close[i]) + walk[:-1] - share * walk[-1]
    return np.exp(log_close)


def _bars(rng: np.random.Generator, close: np.ndarray, sigma: np.ndarray | float, volume: float) -> pd.DataFrame:
    """Open/high/low/volume around given closes (the open gaps from the previous close)."""
    n = close.size
    previous = np.concatenate([[close[0]], close[:-1]])
    open_ = previous * np.exp(rng.normal(0, 0.3, n) * sigma)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.5, n)) * sigma)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.5, n)) * sigma)
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume * rng.lognormal(0, 0.3, n)}
    )


def _ticker_prices(rng: np.random.Generator, ticker: str, rows: pd.DataFrame, end: date) -> pd.DataFrame:
    start = pd.Timestamp(rows["earnings_date"].min()).date() - timedelta(days=HISTORY_BEFORE_FIRST_EVENT_DAYS)
    days = trading_days(np.datetime64(start), np.datetime64(end))
    scale = move_scale(rows)
    fixed = _fixed_bars(rng, rows, days, scale)
    if not fixed:
        return pd.DataFrame()
    sigma = ORDINARY_TO_SCALE * scale / 100
    bars = _bars(rng, _closes(rng, days.size, fixed, sigma), sigma, float(rows["volume_before"].median()))
    for i, (open_, high, low, close, volume) in fixed.items():
        if np.isnan(open_):  # only the close is fixed: keep the generated bar around it consistent
            bars.loc[i, "high"] = max(bars.loc[i, "high"], close)
            bars.loc[i, "low"] = min(bars.loc[i, "low"], close)
            bars.loc[i, "volume"] = volume
        else:
            bars.loc[i, ["open", "high", "low", "close", "volume"]] = [open_, high, low, close, volume]
    return bars.assign(ticker=ticker, date=pd.to_datetime(days))


def _index_prices(rng: np.random.Generator, start: date, end: date) -> pd.DataFrame:
    """SPY and ^VIX over one volatility regime (a mean-reverting log-volatility)."""
    days = trading_days(np.datetime64(start), np.datetime64(end))
    n = days.size
    regime = np.zeros(n)
    shocks = rng.normal(0, 0.18, n)
    for t in range(1, n):
        regime[t] = 0.97 * regime[t - 1] + shocks[t]
    sigma = 0.009 * np.exp(0.6 * regime)
    spy = 110.0 * np.exp(np.cumsum(rng.normal(0.0004, 1.0, n) * sigma))
    vix = 9.0 + 8.0 * np.exp(0.6 * regime + rng.normal(0, 0.04, n))
    frames = [
        _bars(rng, spy, sigma, 8e7).assign(ticker=INDEX_TICKER),
        _bars(rng, vix, 0.04, 0.0).assign(ticker=VIX_TICKER),
    ]
    return pd.concat(frames, ignore_index=True).assign(date=np.tile(pd.to_datetime(days), 2))


def sample_prices(db: Path, seed: int = 7) -> pd.DataFrame:
    """Daily bars (ticker, date, open, high, low, close, volume) agreeing with the database's stored moves,
    plus SPY and ^VIX, up to the trading day after its latest stored move."""
    rng = np.random.default_rng([seed, 18])
    moves, end = _events(Path(db))
    frames = [_ticker_prices(rng, str(t), rows, end) for t, rows in moves.groupby("ticker", sort=True)]
    start = pd.Timestamp(moves["earnings_date"].min()).date() - timedelta(days=HISTORY_BEFORE_FIRST_EVENT_DAYS)
    frames.append(_index_prices(rng, start, end))
    prices = pd.concat(frames, ignore_index=True)
    prices["volume"] = prices["volume"].round().astype("int64")
    prices["date"] = prices["date"].dt.strftime("%Y-%m-%d")
    return prices[["ticker", "date", "open", "high", "low", "close", "volume"]]


def write_sample_market(settings: Settings, db: Path, seed: int = 7) -> tuple[WriteResult, WriteResult]:
    """Write the sample prices and option quotes of database `db` into the workspace's market store (source
    `sample:<db>`)."""
    prices = sample_prices(db, seed)
    moves, _ = _events(Path(db))
    scales = pd.Series({str(ticker): move_scale(rows) for ticker, rows in moves.groupby("ticker")})
    calendar = read_source(db).tables["earnings_calendar"]
    calendar = calendar.assign(ticker=calendar["ticker"].str.strip().str.upper())
    quotes = sample_quotes(prices, calendar, scales, seed)
    source = f"sample:{Path(db).resolve()}"
    return write_rows(settings, PRICES, prices, source), write_rows(settings, QUOTES, quotes, source)

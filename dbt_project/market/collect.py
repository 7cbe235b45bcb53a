"""`ivcrush collect prices|options`: fetch what the store lacks, ticker by ticker, from a provider.

Incremental and resumable: for prices, only the span of each ticker's missing trading days is requested;
for options (a provider serves today's chain only), a ticker already quoted on the current New York day is
skipped. Each ticker is written (merged, atomically) before the next is fetched, so a run that stops resumes
where it stopped. Days a provider has no bar for (before a listing, a halt) are asked again next time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ivcrush.market.calendar import trading_days
from ivcrush.market.providers import Provider, ProviderError
from ivcrush.market.schema import INDEX_TICKER, PRICES, QUOTES, VIX_TICKER
from ivcrush.market.store import market_dir, read_dataset, write_rows
from ivcrush.settings import Settings
from ivcrush.source.reader import read_source

HISTORY_BEFORE_FIRST_EVENT = timedelta(days=400)  # enough bars for the 252-day VIX percentile
Progress = Callable[[str, int, int], None]


@dataclass
class CollectResult:
    provider: str
    rows_written: int = 0
    tickers_complete: list[str] = field(default_factory=list)
    tickers_fetched: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def default_request(settings: Settings, today: date) -> tuple[list[str], date, date]:
    """The database's tickers plus SPY and ^VIX, from 400 days before its first earnings date to `today`."""
    calendar = read_source(settings.source_db).tables["earnings_calendar"]
    tickers = sorted(set(calendar["ticker"].str.strip().str.upper()))
    first = pd.Timestamp(calendar["earnings_date"].min()).date()
    return [INDEX_TICKER, VIX_TICKER, *tickers], first - HISTORY_BEFORE_FIRST_EVENT, today


def missing_days(stored: pd.DataFrame, ticker: str, start: date, end: date) -> np.ndarray:
    """The trading days in [start, end] without a stored bar of `ticker`."""
    days = trading_days(start, end)
    have = stored.loc[stored["ticker"] == ticker, "date"].to_numpy(dtype="datetime64[D]")
    return days[~np.isin(days, have)]


def collect_prices(
    settings: Settings,
    source: Provider,
    tickers: Sequence[str],
    start: date,
    end: date,
    progress: Progress | None = None,
) -> CollectResult:
    """Fetch each ticker's missing days from `source` and merge them into the store; a ticker the provider
    fails on is reported in the result and the others go on."""
    result = CollectResult(source.name)
    stored = read_dataset(market_dir(settings), PRICES)
    for number, ticker in enumerate(tickers, start=1):
        if progress:
            progress(ticker, number, len(tickers))
        missing = missing_days(stored, ticker, start, end)
        if missing.size == 0:
            result.tickers_complete.append(ticker)
            continue
        first, last = (pd.Timestamp(missing[i]).date() for i in (0, -1))
        try:
            bars = source.daily_prices(ticker, first, last)
        except ProviderError as exc:
            result.failures[ticker] = str(exc)
            continue
        bars = bars[bars["date"].isin(np.datetime_as_string(missing, unit="D"))]  # only what is missing
        if len(bars):
            write_rows(settings, PRICES, bars, f"{source.name}:{ticker}:{first}..{last}")
            result.rows_written += len(bars)
        result.tickers_fetched.append(ticker)
    return result


def collect_options(
    settings: Settings,
    source: Provider,
    tickers: Sequence[str],
    expirations: int = 2,
    progress: Progress | None = None,
    now: pd.Timestamp | None = None,
) -> CollectResult:
    """Snapshot each ticker's chain (first `expirations` expirations) unless it was quoted today already."""
    result = CollectResult(source.name)
    stored = read_dataset(market_dir(settings), QUOTES)
    today = (now or pd.Timestamp.now(tz="UTC")).tz_convert("America/New_York").date()
    quoted_today = set(
        stored.loc[
            pd.to_datetime(stored["as_of"], utc=True).dt.tz_convert("America/New_York").dt.date == today, "ticker"
        ]
    )
    for number, ticker in enumerate(tickers, start=1):
        if progress:
            progress(ticker, number, len(tickers))
        if ticker in quoted_today:
            result.tickers_complete.append(ticker)
            continue
        try:
            chain = source.option_chain(ticker, expirations)
        except ProviderError as exc:
            result.failures[ticker] = str(exc)
            continue
        if len(chain):
            write_rows(settings, QUOTES, chain, f"{source.name}:{ticker}:options")
            result.rows_written += len(chain)
        result.tickers_fetched.append(ticker)
    return result

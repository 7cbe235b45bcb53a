"""Market-data providers behind one interface: daily bars of a ticker over a date range.

- `yahoo` (keyless, the default): Yahoo Finance's chart API over HTTPS with the standard library (the
  `yfinance` package is not a dependency; this is the endpoint it reads).
- `polygon` (keyed): Polygon.io's aggregates API; the key comes from `POLYGON_API_KEY` in the environment or
  a `.env` file, is sent in a header (never in a URL) and never appears in a message or a log.

Every request goes through `HttpClient`: a timeout, a minimum interval between requests (rate limit) and
retries with exponential backoff on 429, 5xx and network errors. Tests replace its `opener` with recorded
responses; nothing in the test suite reaches the network.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pandas as pd

from ivcrush.market.schema import MarketDataError

Opener = Callable[[urllib.request.Request, float], bytes]
RETRY_STATUSES = {429, 500, 502, 503, 504}
USER_AGENT = "ivcrush-market/1.0"


class ProviderError(MarketDataError):
    """A provider refused or failed a request after its retries; the message names provider and ticker."""


def _urlopen(request: urllib.request.Request, timeout: float) -> bytes:
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read())


@dataclass
class HttpClient:
    """GET with a timeout, a minimum interval between requests and retries with exponential backoff."""

    min_interval_s: float = 0.5
    timeout_s: float = 10.0
    attempts: int = 4
    backoff_s: float = 1.0
    opener: Opener = field(default_factory=lambda: _urlopen)
    sleep: Callable[[float], None] = field(default_factory=lambda: time.sleep)
    _last: float = field(default=-1e18, init=False)

    def get(self, url: str, headers: dict[str, str], what: str) -> bytes:
        """The response body; a ProviderError naming `what` (never the headers) when every attempt failed."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
        problem = ""
        for attempt in range(self.attempts):
            wait = self._last + self.min_interval_s - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._last = time.monotonic()
            try:
                return self.opener(request, self.timeout_s)
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUSES:
                    raise ProviderError(f"{what}: HTTP {exc.code} {exc.reason}") from None
                problem = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = f"network error ({getattr(exc, 'reason', exc)})"
            if attempt + 1 < self.attempts:
                self.sleep(self.backoff_s * 2**attempt)
        raise ProviderError(f"{what}: {problem} after {self.attempts} attempts")


class Provider(Protocol):
    name: str

    def daily_prices(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        """Bars of `ticker` from `start` to `end` (inclusive): ticker, date, open, high, low, close, volume."""
        ...

    def option_chain(self, ticker: str, expirations: int) -> pd.DataFrame:
        """The current quotes of the first `expirations` expirations: ticker, as_of, expiration, strike, type,
        bid, ask, iv."""
        ...


def _chain_frame(ticker: str, as_of: str, rows: list[dict]) -> pd.DataFrame:
    columns = ["expiration", "strike", "type", "bid", "ask", "iv"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "as_of", as_of)
    frame.insert(0, "ticker", ticker)
    return frame.dropna(subset=["bid", "ask"]).reset_index(drop=True)


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@dataclass
class YahooProvider:
    """Yahoo Finance's chart API (keyless): unadjusted daily OHLCV, dates in the exchange's time zone."""

    client: HttpClient = field(default_factory=HttpClient)
    base_url: str = "https://query1.finance.yahoo.com/v8/finance/chart/"
    name: str = "yahoo"

    def daily_prices(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        query = urllib.parse.urlencode(
            {"period1": _epoch(start), "period2": _epoch(end + timedelta(days=1)), "interval": "1d", "events": "div"}
        )
        url = f"{self.base_url}{urllib.parse.quote(ticker)}?{query}"
        body = json.loads(self.client.get(url, {}, f"yahoo {ticker}"))
        chart = body.get("chart", {})
        if chart.get("error"):
            raise ProviderError(f"yahoo {ticker}: {chart['error'].get('description', chart['error'])}")
        (result,) = chart["result"]
        stamps = result.get("timestamp") or []
        quote = result["indicators"]["quote"][0]
        zone = result["meta"].get("exchangeTimezoneName", "America/New_York")
        days = pd.to_datetime(stamps, unit="s", utc=True).tz_convert(zone).strftime("%Y-%m-%d")
        frame = pd.DataFrame(
            {"ticker": ticker, "date": days, **{k: quote[k] for k in ("open", "high", "low", "close", "volume")}}
        )
        frame["volume"] = frame["volume"].fillna(0)
        return frame.dropna(subset=["open", "high", "low", "close"]).reset_index(drop=True)

    def option_chain(self, ticker: str, expirations: int) -> pd.DataFrame:
        """Yahoo's options endpoint: the first expiration comes with the list of all, the others one by one."""
        url = f"{self.base_url.replace('/v8/finance/chart/', '/v7/finance/options/')}{urllib.parse.quote(ticker)}"
        rows: list[dict] = []
        as_of = ""
        dates: list[int] = []
        for number in range(expirations):
            if number and number >= len(dates):
                break
            query = f"?date={dates[number]}" if number else ""
            body = json.loads(self.client.get(url + query, {}, f"yahoo options {ticker}"))
            chain = body.get("optionChain", {})
            if chain.get("error") or not chain.get("result"):
                raise ProviderError(
                    f"yahoo options {ticker}: {(chain.get('error') or {}).get('description', 'no chain')}"
                )
            (result,) = chain["result"]
            dates = result.get("expirationDates", [])
            as_of = pd.Timestamp(result["quote"]["regularMarketTime"], unit="s", tz="UTC").isoformat()
            for block in result.get("options", []):
                expiration = pd.Timestamp(block["expirationDate"], unit="s", tz="UTC").strftime("%Y-%m-%d")
                for kind, key in (("C", "calls"), ("P", "puts")):
                    rows += [
                        {"expiration": expiration, "strike": q["strike"], "type": kind, "bid": q.get("bid"),
                         "ask": q.get("ask"), "iv": q.get("impliedVolatility")}
                        for q in block.get(key, [])
                    ]  # fmt: skip
        return _chain_frame(ticker, as_of, rows)


def api_key(variable: str, env_file: Path = Path(".env")) -> str | None:
    """The key from the environment, else from a KEY=VALUE line of `env_file`; None where neither has it."""
    if os.environ.get(variable):
        return os.environ[variable]
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name.strip().removeprefix("export ").strip() == variable:
                return value.strip().strip("'\"") or None
    return None


@dataclass
class PolygonProvider:
    """Polygon.io's daily aggregates (keyed: POLYGON_API_KEY), unadjusted; ^VIX is its index I:VIX."""

    key: str = field(repr=False)
    client: HttpClient = field(default_factory=lambda: HttpClient(min_interval_s=12.5))  # free tier: 5 a minute
    base_url: str = "https://api.polygon.io/v2/aggs/ticker/"
    name: str = "polygon"
    KEY_VARIABLE = "POLYGON_API_KEY"

    def daily_prices(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        symbol = f"I:{ticker[1:]}" if ticker.startswith("^") else ticker
        url = (
            f"{self.base_url}{urllib.parse.quote(symbol)}/range/1/day/{start.isoformat()}/{end.isoformat()}"
            "?adjusted=false&sort=asc&limit=50000"
        )
        body = json.loads(self.client.get(url, {"Authorization": f"Bearer {self.key}"}, f"polygon {ticker}"))
        if body.get("status") not in ("OK", "DELAYED"):
            raise ProviderError(f"polygon {ticker}: {body.get('error') or body.get('status')}")
        rows = body.get("results") or []
        frame = pd.DataFrame(rows, columns=["t", "o", "h", "l", "c", "v"])
        days = pd.to_datetime(frame["t"], unit="ms", utc=True).dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
        return pd.DataFrame(
            {"ticker": ticker, "date": days, "open": frame["o"], "high": frame["h"], "low": frame["l"],
             "close": frame["c"], "volume": frame["v"].fillna(0)}
        )  # fmt: skip

    def option_chain(self, ticker: str, expirations: int) -> pd.DataFrame:
        """Polygon's options snapshot of the underlying (first page, up to 250 contracts), first expirations."""
        url = f"https://api.polygon.io/v3/snapshot/options/{urllib.parse.quote(ticker)}?limit=250"
        body = json.loads(self.client.get(url, {"Authorization": f"Bearer {self.key}"}, f"polygon options {ticker}"))
        if body.get("status") not in ("OK", "DELAYED"):
            raise ProviderError(f"polygon options {ticker}: {body.get('error') or body.get('status')}")
        rows, stamps = [], []
        for contract in body.get("results") or []:
            details, quote = contract.get("details", {}), contract.get("last_quote", {})
            rows.append(
                {"expiration": details.get("expiration_date"), "strike": details.get("strike_price"),
                 "type": str(details.get("contract_type", "")).upper()[:1], "bid": quote.get("bid"),
                 "ask": quote.get("ask"), "iv": contract.get("implied_volatility")}
            )  # fmt: skip
            stamps.append(quote.get("last_updated", 0))
        first = sorted({row["expiration"] for row in rows})[:expirations]
        as_of = pd.Timestamp(max(stamps, default=0), unit="ns", tz="UTC").isoformat()
        return _chain_frame(ticker, as_of, [row for row in rows if row["expiration"] in first])


PROVIDERS = ("yahoo", "polygon")


def provider(name: str, env_file: Path = Path(".env")) -> Provider:
    """The provider called `name`; a keyed one without its key is refused, naming the variable."""
    if name == "yahoo":
        return YahooProvider()
    if name == "polygon":
        key = api_key(PolygonProvider.KEY_VARIABLE, env_file)
        if not key:
            raise MarketDataError(f"provider polygon needs {PolygonProvider.KEY_VARIABLE} in the environment or .env")
        return PolygonProvider(key=key)
    raise MarketDataError(f"unknown provider {name!r}; choose {' or '.join(PROVIDERS)}")

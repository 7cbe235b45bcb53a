"""Market quotes per strike from the implied-moves CSV (ticker, expiration, strike, type, bid, ask, and
optionally spot), parsed and checked line by line (the lookups on them are in `chain`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ivcrush.serving.implied import implied_from_csv, normalise_ticker
from ivcrush.serving.market import StrategyError

QUOTE_COLUMNS = ("ticker", "expiration", "strike", "type", "bid", "ask")
OPTION_TYPES = {"put": "put", "p": "put", "call": "call", "c": "call"}


@dataclass(frozen=True)
class MarketCsv:
    """What an implied-moves CSV gives: per ticker the implied move / spot / expiration overrides, and the
    per-strike quotes (None for a CSV of implied moves)."""

    implied: pd.DataFrame
    quotes: pd.DataFrame | None


def read_market_csv(path: Path) -> MarketCsv:
    """The CSV as implied moves (`implied_from_csv`) or, where it has strike, type, bid and ask columns, as
    per-strike quotes."""
    try:
        header = pd.read_csv(path, nrows=0)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise StrategyError(f"{path}: cannot be read as CSV ({exc})") from exc
    columns = {str(c).strip().lower() for c in header.columns}
    if not columns & {"strike", "type", "bid", "ask"}:
        return MarketCsv(implied_from_csv(path), None)
    implied, quotes = quotes_from_csv(path)
    return MarketCsv(implied, quotes)


def _number(value: object, name: str, *, positive: bool) -> float:
    number = float(pd.to_numeric(value, errors="coerce"))
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise StrategyError(f"{name} {value!r} must be a {'positive' if positive else 'non-negative'} number")
    return number


def quotes_from_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ticker -> spot, quotes) from a CSV of option quotes: ticker, expiration (YYYY-MM-DD), strike, type
    (put/call or P/C), bid, ask (ask >= bid, ask > 0), optionally spot (one value per ticker)."""
    frame = pd.read_csv(path, dtype=str)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in QUOTE_COLUMNS if c not in frame.columns]
    if missing:
        raise StrategyError(
            f"{path}: quotes need columns {list(QUOTE_COLUMNS)} (and optionally spot); missing {missing}"
        )
    rows = []
    for number, row in enumerate(frame.to_dict("records"), 2):
        try:
            kind = OPTION_TYPES.get(str(row["type"]).strip().lower())
            if kind is None:
                raise StrategyError(f"type {row['type']!r} must be put or call")
            expiration = pd.to_datetime(str(row["expiration"]).strip(), format="%Y-%m-%d", errors="coerce")
            if pd.isna(expiration):
                raise StrategyError(f"expiration {row['expiration']!r} is not a date YYYY-MM-DD")
            bid = _number(row["bid"], "bid", positive=False)
            ask = _number(row["ask"], "ask", positive=True)
            if ask < bid:
                raise StrategyError(f"ask {ask:g} is below bid {bid:g}")
            spot = row.get("spot")
            rows.append(
                {
                    "ticker": normalise_ticker(str(row["ticker"])),
                    "expiration": expiration.date(),
                    "strike": _number(row["strike"], "strike", positive=True),
                    "type": kind,
                    "bid": bid,
                    "ask": ask,
                    "spot": None if spot is None or pd.isna(spot) else _number(spot, "spot", positive=True),
                }
            )
        except StrategyError as exc:
            raise StrategyError(f"{path}, line {number}: {exc}") from exc
    quotes = pd.DataFrame(rows, columns=[*QUOTE_COLUMNS, "spot"])
    keys = ["ticker", "expiration", "strike", "type"]
    duplicated = quotes[quotes.duplicated(keys)]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        raise StrategyError(
            f"{path}: {first['ticker']} {first['expiration']} {first['strike']:g} {first['type']} is quoted twice"
        )
    spots = quotes.dropna(subset=["spot"]).groupby("ticker")["spot"].nunique()
    if (spots > 1).any():
        raise StrategyError(f"{path}: ticker {spots[spots > 1].index[0]} has more than one spot")
    implied = quotes.groupby("ticker", sort=True)["spot"].first().reset_index().assign(implied_move_pct=math.nan)
    quotes = quotes.drop(columns="spot").assign(mid=lambda q: (q["bid"] + q["ask"]) / 2)
    return implied[["ticker", "implied_move_pct", "spot"]], quotes

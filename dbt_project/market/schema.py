"""The two market datasets, their documented columns and the validation every write goes through.

`daily_prices`: one bar per (ticker, date): ticker, date (YYYY-MM-DD), open, high, low, close (> 0,
low <= open/close <= high), volume (>= 0). Index series are ordinary tickers: `SPY` and `^VIX`.
`option_quotes`: one quote per (ticker, as_of, expiration, strike, type): as_of a timestamp (UTC, or a
date meaning 16:00 New York), expiration a date, strike > 0, type C or P (call/put accepted), bid >= 0,
ask >= bid, iv (annualised, as a fraction, optional).
A file that breaks any of these is refused as a whole, naming its file, row, column and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ivcrush.errors import IvcrushError

INDEX_TICKER = "SPY"
VIX_TICKER = "^VIX"
_TICKER = re.compile(r"^\^?[A-Z][A-Z0-9.\-]{0,9}$")
MAX_ERRORS_SHOWN = 5


class MarketDataError(IvcrushError):
    """Market data that cannot be used: the message names the file, row, column and what is wrong."""


@dataclass(frozen=True)
class Dataset:
    name: str
    key: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


PRICES = Dataset("daily_prices", ("ticker", "date"), ("ticker", "date", "open", "high", "low", "close", "volume"))
QUOTES = Dataset(
    "option_quotes",
    ("ticker", "as_of", "expiration", "strike", "type"),
    ("ticker", "as_of", "expiration", "strike", "type", "bid", "ask"),
    ("iv",),
)
DATASETS = {"prices": PRICES, "options": QUOTES}
_TYPE_WORDS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}


class _Problems:
    """Collects (row, column, message) problems; raises them all at once, the first few spelled out."""

    def __init__(self, where: str, row_labels: pd.Index) -> None:
        self.where = where
        self.labels = row_labels
        self.found: list[str] = []
        self.count = 0

    def add(self, bad: pd.Series, column: str, what: str, values: pd.Series | None = None) -> None:
        positions = [i for i, flag in enumerate(bad.to_numpy()) if flag]
        self.count += len(positions)
        for i in positions[: MAX_ERRORS_SHOWN - len(self.found)]:
            shown = "" if values is None else f" ({values.iloc[i]!r})"
            self.found.append(f"row {self.labels[i]}, column {column}: {what}{shown}")

    def raise_if_any(self) -> None:
        if self.count:
            more = f"; {self.count - len(self.found)} more" if self.count > len(self.found) else ""
            raise MarketDataError(f"{self.where}: {'; '.join(self.found)}{more}; nothing was written")


def _numbers(frame: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    problems.add(values.isna() & raw.notna() & (raw.astype(str).str.strip() != ""), column, "not a number", raw)
    return values.astype("float64")


def _dates(frame: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    raw = frame[column]
    values = pd.to_datetime(raw.astype(str).str.strip(), format="%Y-%m-%d", errors="coerce")
    problems.add(values.isna() & raw.notna(), column, "not a date YYYY-MM-DD", raw)
    return values


def _timestamps(frame: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    """UTC timestamps; a bare date means its 16:00 New York close."""
    text = frame[column].astype(str).str.strip()
    bare = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    parsed = pd.to_datetime(text.where(~bare), errors="coerce", utc=True, format="ISO8601")
    closes = pd.to_datetime(text.where(bare), errors="coerce", format="%Y-%m-%d") + pd.Timedelta(hours=16)
    closes = closes.dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    values = parsed.where(~bare, closes)
    problems.add(values.isna() & frame[column].notna(), column, "not an ISO timestamp or date", frame[column])
    return values


def _required(frame: pd.DataFrame, dataset: Dataset, problems: _Problems) -> None:
    for column in dataset.required:
        empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        problems.add(empty, column, "missing value")


def _tickers(frame: pd.DataFrame, problems: _Problems) -> pd.Series:
    tickers = frame["ticker"].astype(str).str.strip().str.upper()
    problems.add(~tickers.str.fullmatch(_TICKER) & frame["ticker"].notna(), "ticker", "not a ticker", frame["ticker"])
    return tickers


def _duplicates(frame: pd.DataFrame, dataset: Dataset, problems: _Problems) -> None:
    problems.add(frame.duplicated(list(dataset.key), keep="first"), "+".join(dataset.key), "duplicate key")


def validate(frame: pd.DataFrame, dataset: Dataset, where: str, row_labels: pd.Index | None = None) -> pd.DataFrame:
    """The frame typed and checked as `dataset`; a MarketDataError naming every kind of problem otherwise.

    `row_labels` names the rows in messages (e.g. a CSV's line numbers); default 1, 2, ...
    """
    missing = [c for c in dataset.required if c not in frame.columns]
    if missing:
        raise MarketDataError(
            f"{where}: column(s) {', '.join(missing)} missing; {dataset.name} needs {', '.join(dataset.required)}"
            f" (optional: {', '.join(dataset.optional) or 'none'}); nothing was written"
        )
    frame = frame.reset_index(drop=True)
    problems = _Problems(where, row_labels if row_labels is not None else pd.RangeIndex(1, len(frame) + 1))
    _required(frame, dataset, problems)
    out = pd.DataFrame({"ticker": _tickers(frame, problems)})
    if dataset is PRICES:
        out["date"] = _dates(frame, "date", problems)
        for column in ("open", "high", "low", "close", "volume"):
            out[column] = _numbers(frame, column, problems)
        for column in ("open", "high", "low", "close"):
            problems.add(out[column] <= 0, column, "must be > 0", out[column])
        problems.add(out["volume"] < 0, "volume", "must be >= 0", out["volume"])
        problems.add(out["high"] < out[["open", "close", "low"]].max(axis=1), "high", "below open, close or low")
        problems.add(out["low"] > out[["open", "close"]].min(axis=1), "low", "above open or close")
        out["volume"] = out["volume"].round().astype("Int64")
    else:
        out["as_of"] = _timestamps(frame, "as_of", problems)
        out["expiration"] = _dates(frame, "expiration", problems)
        for column in ("strike", "bid", "ask"):
            out[column] = _numbers(frame, column, problems)
        kind = frame["type"].astype(str).str.strip().str.upper().map(_TYPE_WORDS)
        problems.add(kind.isna() & frame["type"].notna(), "type", "not C, P, call or put", frame["type"])
        out["type"] = kind
        out["iv"] = _numbers(frame, "iv", problems) if "iv" in frame.columns else float("nan")
        problems.add(out["strike"] <= 0, "strike", "must be > 0", out["strike"])
        problems.add(out["bid"] < 0, "bid", "must be >= 0", out["bid"])
        problems.add(out["ask"] < out["bid"], "ask", "below bid", out["ask"])
        problems.add(out["iv"] < 0, "iv", "must be >= 0", out["iv"])
        problems.add(out["expiration"] < out["as_of"].dt.tz_localize(None).dt.normalize(), "expiration", "before as_of")
    _duplicates(out, dataset, problems)
    problems.raise_if_any()
    return out

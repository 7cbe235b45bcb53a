"""Implied moves from the command line or a user CSV; tickers checked before they go anywhere near a query.

(2.0's own iv_log scans arrive through the feature service as `opt_implied_move_pct`.)
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import pandas as pd

from ivcrush.serving.market import StrategyError, check_implied_move, implied_move_from_straddle

TICKER_PATTERN = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
# What a spreadsheet writes for "no value": a ticker cell holding one of these is missing, not a symbol.
MISSING_MARKERS = {"", "NA", "N/A", "NAN", "NULL", "NONE", "#N/A", "-", "--"}


def normalise_ticker(ticker: str) -> str:
    """Upper-case ticker, refused unless it looks like a stock symbol (never interpolated into SQL)."""
    candidate = ticker.strip().upper()
    if not TICKER_PATTERN.fullmatch(candidate):
        raise StrategyError(f"malformed ticker {ticker!r}: expected 1-10 letters, digits, '.' or '-'")
    return candidate


def _price(value: float | None, name: str) -> float | None:
    """A price given on the command line: positive and finite where given."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise StrategyError(f"{name} {value:g} must be a positive, finite price")
    return value


def implied_from_options(
    implied_move: float | None, straddle: float | None, spot: float | None
) -> tuple[float | None, float | None]:
    """(implied move %, spot) from --implied-move or --straddle with --spot; (None, spot) when neither."""
    straddle, spot = _price(straddle, "--straddle"), _price(spot, "--spot")
    if implied_move is not None and straddle is not None:
        raise StrategyError("give either --implied-move or --straddle with --spot, not both")
    if straddle is not None:
        if spot is None:
            raise StrategyError("--straddle needs --spot")
        return implied_move_from_straddle(straddle, spot), spot
    if implied_move is not None:
        return check_implied_move(implied_move), spot
    return None, spot


def _expiration(row: dict) -> date | None:
    """The row's expiration date, None where the column is absent or empty; StrategyError where unreadable."""
    value = row.get("expiration")
    if value is None or pd.isna(value) or str(value).strip().upper() in MISSING_MARKERS:
        return None
    parsed = pd.to_datetime(str(value).strip(), format="%Y-%m-%d", errors="coerce")
    if pd.isna(parsed):
        raise StrategyError(f"expiration {value!r} is not a date YYYY-MM-DD")
    return parsed.date()


def _csv_ticker(value: str) -> str:
    """A CSV's ticker cell as a symbol; a missing one (empty, NA, ...) is refused, never read as `NAN`."""
    if value.strip().upper() in MISSING_MARKERS:
        raise StrategyError(f"ticker missing ({value!r})")
    return normalise_ticker(value)


def _csv_number(row: dict[str, str], column: str) -> float | None:
    """A numeric cell: None where empty or absent, StrategyError where it is not a finite number."""
    text = row.get(column, "").strip()
    if text.upper() in MISSING_MARKERS:
        return None
    try:
        number = float(text)
    except ValueError:
        raise StrategyError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(number):
        raise StrategyError(f"{column} {text!r} is not a finite number")
    return number


def implied_from_csv(path: Path) -> pd.DataFrame:
    """ticker -> implied_move_pct (and spot) from a CSV with ticker and implied_move_pct, or straddle and spot.

    Every cell is read as text: a missing ticker is refused, a row without an implied move needs a straddle
    and a spot, and a file without rows is refused (it would silently change nothing)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StrategyError(f"{path}: cannot be read as CSV ({exc})") from exc
    columns = {str(c).strip().lower(): c for c in frame.columns}
    if "ticker" not in columns or not ("implied_move_pct" in columns or {"straddle", "spot"} <= set(columns)):
        raise StrategyError(
            f"{path}: needs columns ticker and implied_move_pct, or ticker, straddle and spot; "
            f"has {list(frame.columns)}"
        )
    if frame.empty:
        raise StrategyError(f"{path}: no rows under its header")
    rows = []
    for number, row in enumerate(frame.rename(columns={v: k for k, v in columns.items()}).to_dict("records"), 2):
        try:
            ticker = _csv_ticker(row["ticker"])
            spot = _csv_number(row, "spot")
            implied_pct = _csv_number(row, "implied_move_pct")
            if implied_pct is not None:
                implied = check_implied_move(implied_pct)
            else:
                straddle = _csv_number(row, "straddle")
                if straddle is None or spot is None:
                    raise StrategyError("no implied_move_pct, and no straddle with a spot to compute it from")
                implied = implied_move_from_straddle(straddle, spot)
            if spot is not None and spot <= 0:
                raise StrategyError(f"spot {spot:g} must be positive")
            expiration = _expiration(row)
        except StrategyError as exc:
            raise StrategyError(f"{path}, line {number}: {exc}") from exc
        rows.append({"ticker": ticker, "implied_move_pct": implied, "spot": spot, "expiration": expiration})
    result = pd.DataFrame(rows, columns=["ticker", "implied_move_pct", "spot", "expiration"])
    duplicated = result["ticker"][result["ticker"].duplicated()]
    if not duplicated.empty:
        raise StrategyError(f"{path}: ticker {duplicated.iloc[0]} appears more than once")
    return result


def unknown_tickers(implied: pd.DataFrame | None, served: set[str]) -> list[str]:
    """The CSV's tickers that name none of the events served (a typo, or a ticker without an event that day)."""
    if implied is None:
        return []
    return sorted(set(implied["ticker"]) - served)

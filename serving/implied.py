"""Implied moves from the command line or a user CSV; tickers checked before they go anywhere near a query.

(2.0's own iv_log scans arrive through the feature service as `opt_implied_move_pct`.)
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd

from ivcrush.serving.market import StrategyError, check_implied_move, implied_move_from_straddle

TICKER_PATTERN = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


def normalise_ticker(ticker: str) -> str:
    """Upper-case ticker, refused unless it looks like a stock symbol (never interpolated into SQL)."""
    candidate = ticker.strip().upper()
    if not TICKER_PATTERN.fullmatch(candidate):
        raise StrategyError(f"malformed ticker {ticker!r}: expected 1-10 letters, digits, '.' or '-'")
    return candidate


def implied_from_options(
    implied_move: float | None, straddle: float | None, spot: float | None
) -> tuple[float | None, float | None]:
    """(implied move %, spot) from --implied-move or --straddle with --spot; (None, spot) when neither."""
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
    if value is None or pd.isna(value):
        return None
    parsed = pd.to_datetime(str(value).strip(), format="%Y-%m-%d", errors="coerce")
    if pd.isna(parsed):
        raise StrategyError(f"expiration {value!r} is not a date YYYY-MM-DD")
    return parsed.date()


def implied_from_csv(path: Path) -> pd.DataFrame:
    """ticker -> implied_move_pct (and spot) from a CSV with ticker and implied_move_pct, or straddle and spot;
    an optional expiration column (YYYY-MM-DD) dates the straddle."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise StrategyError(f"{path}: cannot be read as CSV ({exc})") from exc
    columns = {c.strip().lower(): c for c in frame.columns}
    if "ticker" not in columns or not ("implied_move_pct" in columns or {"straddle", "spot"} <= set(columns)):
        raise StrategyError(
            f"{path}: needs columns ticker and implied_move_pct, or ticker, straddle and spot; "
            f"has {list(frame.columns)}"
        )
    rows = []
    for number, row in enumerate(frame.rename(columns={v: k for k, v in columns.items()}).to_dict("records"), 2):
        try:
            ticker = normalise_ticker(str(row["ticker"]))
            spot = pd.to_numeric(row.get("spot"), errors="coerce")
            spot = None if pd.isna(spot) else float(spot)
            if "implied_move_pct" in row and not pd.isna(row["implied_move_pct"]):
                implied = check_implied_move(float(pd.to_numeric(row["implied_move_pct"], errors="coerce")))
            else:
                implied = implied_move_from_straddle(float(row["straddle"]), float(spot or 0))
            expiration = _expiration(row)
        except (StrategyError, TypeError, ValueError) as exc:
            raise StrategyError(f"{path}, line {number}: {exc}") from exc
        rows.append({"ticker": ticker, "implied_move_pct": implied, "spot": spot, "expiration": expiration})
    result = pd.DataFrame(rows, columns=["ticker", "implied_move_pct", "spot", "expiration"])
    duplicated = result["ticker"][result["ticker"].duplicated()]
    if not duplicated.empty:
        raise StrategyError(f"{path}: ticker {duplicated.iloc[0]} appears more than once")
    return result

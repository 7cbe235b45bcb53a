"""Lookups on quoted option chains (the frame `quotes.quotes_from_csv` returns: ticker, expiration,
strike, type, bid, ask, mid): the at-the-money straddle per expiration and the listed strike beyond a price."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd


@dataclass(frozen=True)
class Straddle:
    expiration: date
    strike: float
    mid: float  # call mid + put mid, per share


def atm_straddles(quotes: pd.DataFrame, spot: float, earliest: date) -> list[Straddle]:
    """Per expiration on or after `earliest` (sorted), the straddle at the quoted strike nearest the spot
    that has both a put and a call."""
    found = []
    for expiration, chain in quotes[quotes["expiration"] >= earliest].groupby("expiration", sort=True):
        paired = chain.pivot_table(index="strike", columns="type", values="mid", aggfunc="first")
        if not {"put", "call"} <= set(paired.columns):
            continue
        paired = paired.dropna(subset=["put", "call"])
        if paired.empty:
            continue
        strike = float(min(paired.index, key=lambda k: (abs(k - spot), k)))
        found.append(Straddle(expiration, strike, float(paired.at[strike, "put"] + paired.at[strike, "call"])))
    return found


def listed_beyond(chain: pd.DataFrame, kind: str, price: float, *, not_beyond: float | None = None) -> pd.Series | None:
    """The quote of the `kind` option nearest `price` on its far side (a put at or below, a call at or above),
    optionally strictly beyond another strike `not_beyond` on the same side; None where none is quoted."""
    side = chain[chain["type"] == kind]
    if kind == "put":
        side = side[side["strike"] <= price + 1e-9]
        if not_beyond is not None:
            side = side[side["strike"] < not_beyond]
        return None if side.empty else side.loc[side["strike"].idxmax()]
    side = side[side["strike"] >= price - 1e-9]
    if not_beyond is not None:
        side = side[side["strike"] > not_beyond]
    return None if side.empty else side.loc[side["strike"].idxmin()]

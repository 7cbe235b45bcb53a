"""Sample 2.0 data, part 1: synthetic tickers, their earnings events, the stored moves and the calendar.

Events are coded by their index in `TIMINGS` (BMO, AMC, DMH, UNKNOWN). Like the real file, after-close (AMC)
moves are stored on the announcement day: ordinary-day moves, about a third of BMO events' reaction moves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ivcrush.source.schema import TIMINGS

_TIMINGS = np.array(TIMINGS)
BMO, AMC, UNKNOWN = TIMINGS.index("BMO"), TIMINGS.index("AMC"), TIMINGS.index("UNKNOWN")  # codes of `timing`
_WEEKDAY_P = np.array([0.09, 0.26, 0.28, 0.31, 0.06])  # Mon..Fri share of real earnings dates
_FUTURE_DAYS = 120  # calendar horizon after `today`


def _weekday(d: np.ndarray) -> np.ndarray:
    """Monday=0 .. Sunday=6 for datetime64[D] values (1970-01-01 was a Thursday)."""
    return (d.astype(np.int64) + 3) % 7


def next_friday(d: np.ndarray) -> np.ndarray:
    """The first Friday on or after each date."""
    return d + ((4 - _weekday(d)) % 7).astype("timedelta64[D]")


def date_texts(d: np.ndarray) -> list[str]:
    """'YYYY-MM-DD' texts, as 2.0 stores dates."""
    return np.datetime_as_string(d, unit="D").tolist()


def stamp_texts(t: np.ndarray) -> list[str]:
    """'YYYY-MM-DD HH:MM:SS' texts, as SQLite's CURRENT_TIMESTAMP writes them."""
    if t.size == 0:  # numpy's string replace cannot size an empty array
        return []
    return np.char.replace(np.datetime_as_string(t.astype("datetime64[s]"), unit="s"), "T", " ").tolist()


def _symbols(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` unique synthetic uppercase symbols of 1-5 letters, mostly 3-4."""
    found = np.empty(0, dtype="U5")
    while found.size < n:
        m = 2 * n + 64
        length = rng.choice(np.arange(1, 6), size=m, p=[0.002, 0.04, 0.33, 0.55, 0.078])
        codes = rng.integers(65, 91, size=(m, 5), dtype=np.uint8)
        codes[np.arange(5)[None, :] >= length[:, None]] = 0
        cand = np.concatenate([found, codes.view("S5").ravel().astype("U5")])
        _, first = np.unique(cand, return_index=True)
        found = cand[np.sort(first)]
    return found[:n]


def tickers(rng: np.random.Generator, n: int, years: int) -> pd.DataFrame:
    """Per-ticker parameters: symbol, move scale, price level, volume, timing habit, coverage."""
    base = rng.choice(3, size=n, p=[0.495, 0.495, 0.01])  # BMO, AMC or (rarely) DMH
    quarters = np.where(rng.random(n) < 0.15, 1.0, rng.uniform(0.2, 0.7, n)) * years * 4
    return pd.DataFrame(
        {
            "symbol": _symbols(rng, n),
            "scale": np.clip(rng.lognormal(np.log(4.2), 0.5, n), 0.8, 25.0),  # reaction-day move scale, %
            "price": np.clip(rng.lognormal(np.log(90.0), 1.0, n), 5.0, 3000.0),
            "volume": np.clip(rng.lognormal(np.log(3.4e6), 1.1, n), 5e4, 8e8),
            "timing": base,
            "flip_p": rng.choice([0.0, 0.1, 0.3], size=n, p=[0.6, 0.3, 0.1]),
            "weekday": rng.choice(5, size=n, p=_WEEKDAY_P),
            "n_past": np.maximum(1, np.round(quarters)).astype(np.int64),
            "phase": rng.integers(3, 94, n),
            "backfill": rng.uniform(10, 200, n),  # days before `today` the ticker was backfilled
            "intraday_on_open": rng.random(n) < 0.05,  # 5% of real rows divide H-L by the open
        }
    )


def events(rng: np.random.Generator, tk: pd.DataFrame, today: np.datetime64) -> pd.DataFrame:
    """All events (past and the next ~quarter), one every ~91 days per ticker, on weekdays."""
    n_ev = tk["n_past"].to_numpy() + 2
    t = np.repeat(np.arange(len(tk)), n_ev)
    starts = np.cumsum(n_ev) - n_ev
    k = np.arange(t.size) - starts[t] - (tk["n_past"].to_numpy()[t] - 1)  # <=0 past, 1..2 future
    nominal = today - tk["phase"].to_numpy()[t] + 91 * k + rng.integers(-4, 5, t.size)
    nominal = nominal.astype("datetime64[D]")
    wd = np.where(rng.random(t.size) < 0.7, tk["weekday"].to_numpy()[t], rng.choice(5, t.size, p=_WEEKDAY_P))
    d = nominal - _weekday(nominal).astype("timedelta64[D]") + wd.astype("timedelta64[D]")
    timing = tk["timing"].to_numpy()[t]
    flip = rng.random(t.size) < tk["flip_p"].to_numpy()[t]
    timing = np.where(flip, np.where(timing == AMC, BMO, AMC), timing)
    future = d > today
    timing = np.where(future & (rng.random(t.size) < 0.09), UNKNOWN, timing)
    keep = (d != today) & (d <= today + _FUTURE_DAYS)
    return pd.DataFrame({"t": t, "date": d, "timing": timing, "future": future})[keep].reset_index(drop=True)


def moves(rng: np.random.Generator, tk: pd.DataFrame, past: pd.DataFrame, today: np.datetime64) -> pd.DataFrame:
    """OHLC and moves of past events: reaction-day moves for BMO/DMH, ordinary-day moves for AMC."""
    t = past["t"].to_numpy()
    m = t.size
    reaction = past["timing"].to_numpy() != AMC
    scale = tk["scale"].to_numpy()[t] * np.where(reaction, 1.0, 0.38) / 100
    # price path: quarterly log returns, anchored so the latest event sits at the ticker's price level
    r = rng.normal(0.015, 0.06 + 0.6 * tk["scale"].to_numpy()[t] / 100)
    cs = np.cumsum(r)
    last = np.zeros(len(tk), dtype=np.int64)
    last[t] = np.arange(m)
    pc = np.round(np.clip(tk["price"].to_numpy()[t] * np.exp(cs - cs[last[t]]), 0.5, 20000), 6)
    close_r = np.clip(scale * np.clip(rng.standard_t(3, m), -12, 12), -0.85, 3.0)
    share = np.where(reaction, rng.uniform(0.55, 1.1, m), rng.uniform(0.0, 1.0, m))
    gap_r = close_r * share + scale * 0.15 * rng.standard_normal(m)
    op = np.round(pc * (1 + np.clip(gap_r, -0.85, 3.0)), 6)
    cl = np.round(pc * (1 + close_r), 6)
    wick = scale * np.where(reaction, 0.45, 0.7)  # real ranges: ~1.15x the close move (BMO), ~1.8x (AMC)
    hi = np.round(np.maximum(op, cl) * (1 + rng.exponential(wick)), 6)
    lo = np.round(np.minimum(op, cl) * (1 - np.minimum(rng.exponential(wick), 0.5)), 6)
    base = np.where(tk["intraday_on_open"].to_numpy()[t], op, pc)
    vol_before = np.round(tk["volume"].to_numpy()[t] * rng.lognormal(0.0, 0.35, m)).astype(np.int64)
    surge = rng.lognormal(np.where(reaction, np.log(1.8), np.log(1.45)), 0.45)
    backfill = today - (tk["backfill"].to_numpy()[t] * 86400).astype("timedelta64[s]")
    d = past["date"].to_numpy().astype("datetime64[s]")
    later = d + np.timedelta64(86400 + 18 * 3600, "s") + rng.integers(0, 3600, m).astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "ticker": tk["symbol"].to_numpy()[t],
            "earnings_date": date_texts(past["date"].to_numpy()),
            "prev_close": pc,
            "earnings_open": op,
            "earnings_high": hi,
            "earnings_low": lo,
            "earnings_close": cl,
            "intraday_move_pct": (hi - lo) / base * 100,
            "gap_move_pct": np.abs(op / pc - 1) * 100,
            "close_move_pct": np.abs(cl / pc - 1) * 100,
            "volume_before": vol_before,
            "volume_earnings": np.round(vol_before * surge).astype(np.int64),
            "created_at": stamp_texts(np.where(d < backfill, backfill, later)),
        }
    )


def calendar(rng: np.random.Generator, tk: pd.DataFrame, ev: pd.DataFrame, today: np.datetime64) -> pd.DataFrame:
    """One row per event: past ones confirmed, future ones mostly confirmed."""
    n = len(ev)
    future = ev["future"].to_numpy()
    t = ev["t"].to_numpy()
    d = ev["date"].to_numpy().astype("datetime64[s]")
    backfill = today - (tk["backfill"].to_numpy()[t] * 86400).astype("timedelta64[s]")
    announced = d - (rng.uniform(20, 50, n) * 86400).astype("timedelta64[s]")
    latest = today - rng.integers(3600, 86400 * 3, n).astype("timedelta64[s]")
    created = np.where(d < backfill, backfill, np.minimum(announced, latest))
    stamps = np.array(stamp_texts(created), dtype=object)
    validated = future & (rng.random(n) < 0.05)
    return pd.DataFrame(
        {
            "ticker": tk["symbol"].to_numpy()[t],
            "earnings_date": date_texts(ev["date"].to_numpy()),
            "timing": _TIMINGS[ev["timing"].to_numpy()],
            "confirmed": np.where(future, (rng.random(n) < 0.92).astype(np.int64), 1),
            "created_at": stamps,
            "updated_at": stamps,
            "last_validated_at": np.where(validated, stamps, np.array(None, dtype=object)),
        }
    )

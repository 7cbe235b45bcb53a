"""Sample 2.0 data, part 3: trade_journal, closed tax lots of trades around recent past events."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from ivcrush.source.sample_market import AMC

# The trade_journal columns a journal row (a tuple) fills, in order.
JOURNAL_COLUMNS = (
    "symbol, acquired_date, sale_date, days_held, option_type, strike, expiration, quantity, cost_basis, "
    "proceeds, gain_loss, is_winner, term, wash_sale_amount, earnings_date, actual_move, created_at"
)


def _bday(d: date, step: int) -> date:
    """The weekday `step` (+1/-1) business days from `d`."""
    d += timedelta(days=step)
    while d.weekday() >= 5:
        d += timedelta(days=step)
    return d


def _strike(x: float, price: float) -> float:
    inc = 0.5 if price < 25 else 1.0 if price < 100 else 2.5 if price < 500 else 5.0
    return max(inc, round(x / inc) * inc)


class _Journal:
    """Closed tax lots as in a broker's realized gain/loss export, built position by position."""

    def __init__(self, rng: np.random.Generator, stamp: str) -> None:
        self.rng = rng
        self.stamp = stamp
        self.rows: list[tuple] = []
        self.keys: set[tuple] = set()

    def leg(
        self,
        sym: str,
        opened: date,
        closed: date,
        kind: str | None,
        strike: float | None,
        expiration: date | None,
        qty: int,
        open_px: float,
        close_px: float,
        credit: bool,
        event: tuple[str, float] | None = None,
    ) -> None:
        """One leg, split into 1-5 lots. Credit legs: sold `opened`, bought back (acquired) `closed`."""
        mult = 1 if kind is None else 100
        n_lots = min(qty, int(self.rng.geometric(0.5)), 5) if close_px > 0 else 1
        sizes = 1 + self.rng.multinomial(qty - n_lots, np.full(n_lots, 1 / n_lots))
        acquired, sale = (closed, opened) if credit else (opened, closed)
        buy_px, sell_px = (close_px, open_px) if credit else (open_px, close_px)
        for q in sizes.tolist():
            fee = 0.65 * q * (kind is not None) + 0.01 * int(self.rng.integers(0, 4))
            cost = round(buy_px * mult * q + fee if buy_px > 0 else 0.0, 2)
            proceeds = round(max(sell_px * mult * q - fee, 0.0), 2)
            key = (sym, acquired, sale, kind, strike, cost)
            while key in self.keys:
                cost = round(cost + 0.01, 2)
                key = (sym, acquired, sale, kind, strike, cost)
            self.keys.add(key)
            gain = round(proceeds - cost, 2)
            days = (sale - acquired).days
            self.rows.append(
                (
                    sym,
                    acquired.isoformat(),
                    sale.isoformat(),
                    days,
                    kind,
                    strike,
                    None if expiration is None else expiration.isoformat(),
                    q,
                    cost,
                    proceeds,
                    gain,
                    int(gain > 0),
                    "LONG" if days > 365 else "SHORT",
                    0.0,
                    None if event is None else event[0],
                    None if event is None else event[1],
                    self.stamp,
                )
            )

    def position(
        self,
        sym: str,
        earn: date,
        amc: bool,
        price: float,
        move: float,
        scale: float,
        today: date,
        structure: int | None,
    ) -> None:
        """A trade around one past event: naked put, put spread, iron condor, long option, or stock."""
        rng = self.rng
        opened = earn if amc else _bday(earn, -1)
        closed = _bday(earn, 1) if amc else earn
        expiration = closed + timedelta(days=(4 - closed.weekday()) % 7 + 7 * int(rng.random() < 0.1))
        im = scale * 1.2 / 100
        qty = max(1, round(rng.lognormal(np.log(20), 1.0)))
        win = rng.random() < 0.78
        kind = structure if structure is not None else rng.choice(5, p=[0.45, 0.17, 0.10, 0.18, 0.10])
        if kind == 3:  # long call or put, bought before the event
            prem = price * im * rng.uniform(0.3, 0.6)
            self.leg(
                sym,
                opened,
                closed,
                str(rng.choice(["CALL", "PUT"])),
                _strike(price, price),
                expiration,
                qty,
                prem,
                prem * rng.lognormal(-0.2, 0.8),
                credit=False,
                event=(earn.isoformat(), move) if rng.random() < 0.4 else None,
            )
            return
        if kind == 4:  # shares
            start = opened - timedelta(days=int(rng.integers(0, 60)))
            end = min(start + timedelta(days=int(rng.integers(0, 90))), today - timedelta(days=1))
            shares = int(rng.integers(20, 600))
            self.leg(sym, start, end, None, None, None, shares, price, price * rng.lognormal(0.01, 0.06), credit=False)
            return
        sides = ["PUT"] if kind in (0, 1) else ["PUT", "CALL"]
        for side in sides:
            sign = -1 if side == "PUT" else 1
            short_k = _strike(price * (1 + sign * im * rng.uniform(1.0, 1.5)), price)
            prem = price * im * rng.uniform(0.08, 0.25)
            expired = win and rng.random() < 0.25
            back = 0.0 if expired else prem * (rng.uniform(0.02, 0.4) if win else rng.uniform(1.5, 4.0))
            self.leg(
                sym, opened, expiration if expired else closed, side, short_k, expiration, qty, prem, back, credit=True
            )
            if kind == 0:
                continue
            long_k = short_k + sign * _strike(price * 0.025, price) * int(rng.choice([1, 2, 4]))
            if long_k <= 0:
                continue
            hedge = prem * rng.uniform(0.3, 0.6)
            self.leg(
                sym,
                opened,
                closed,
                side,
                long_k,
                expiration,
                qty,
                hedge,
                hedge * (rng.uniform(0.0, 0.5) if win else rng.uniform(1.2, 3.0)),
                credit=False,
            )


def trade_journal(
    rng: np.random.Generator, tk: pd.DataFrame, ev: pd.DataFrame, moves: pd.DataFrame, today: date
) -> list[tuple]:
    """About 1% as many closed lots as past events (at least ~30), from trades around recent events."""
    past = ev[~ev["future"]].reset_index(drop=True)
    dates = past["date"].to_numpy().astype("datetime64[D]")
    recent = np.flatnonzero(
        (dates >= np.datetime64(today - timedelta(days=540))) & (dates < np.datetime64(today - timedelta(days=7)))
    )
    target = max(30, round(0.01 * len(past)))
    journal = _Journal(rng, f"{today.isoformat()} 15:20:03")
    n_pos = 0  # the first five positions are one of each structure
    while len(journal.rows) < target and recent.size:
        i = int(rng.choice(recent))
        t = int(past.at[i, "t"])
        amc = bool(past.at[i, "timing"] == AMC)
        journal.position(
            str(tk.at[t, "symbol"]),
            date.fromisoformat(str(dates[i])),
            amc,
            float(moves.at[i, "prev_close"]),
            float(moves.at[i, "close_move_pct"]),
            float(tk.at[t, "scale"]),
            today,
            n_pos if n_pos < 5 else None,
        )
        n_pos += 1
    return sorted(journal.rows, key=lambda r: (min(r[1], r[2]), r[0]))

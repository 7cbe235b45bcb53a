"""Positions from the trade journal: closed tax lots of single legs grouped into trades, with earnings marked.

`trade_journal` is the broker's realized gain/loss export: one row per closed tax lot of one option leg (or
of shares). A credit leg is sold first, so its `sale_date` lies BEFORE its `acquired_date`; one leg is often
split into many lots; SPX/VIX lots are split 60/40 into LONG/SHORT term (Section 1256), so quantities can be
fractional. Rules used here, in order:

1. **Lot dates and side** come from the build's dbt staging model `stg_ivcrush__trade_journal` (the one
   place they are derived): entry/exit in trading order and `is_short` (sold to open; a same-day lot is
   short when it is an option with a zero cost basis).
2. **Components.** Lots of one symbol with the same entry date and the same expiration (shares: no
   expiration) form one component, whatever their exit dates: legs of one spread, or lots of one leg, are
   often closed on different days, and the position is held until its last lot is closed.
3. **Merging expirations.** Components of one symbol opened the same day with different expirations
   (calendars, diagonals, stock + option) are merged into one position only if their exit dates are equal
   too, i.e. the trader opened and closed them together. Otherwise they are separate positions (e.g. shares
   bought with a short call that was bought back weeks before the shares were sold: two positions).
4. **Rolls.** A position that opens on the day another option position of the same symbol closes, at a
   different strike or expiration, is a roll: two positions, the new one has `rolled_from` = the old one's
   `position_id`.

Per position: the short put nearest the money with its long wing below (`short_put`, `long_put`), the same
for calls (`short_call`, `long_call`); legs = distinct (option type, strike, expiration, side) (shares are one
leg), lots, contracts (the largest leg's contract count: a 10-lot iron condor has contracts = 10), shares, net
premium at open (short proceeds minus long cost), is_credit (has a short leg and a positive net premium), P&L =
sum of the broker's gain_loss (wash-sale adjustments are not added; they are 0 in the known data).

Structure: ``single`` (one option leg), ``vertical spread`` (two legs of one type and expiration, one short
and one long), ``strangle/straddle`` (one short put and one short call, one expiration), ``iron condor``
(a short and a long put below a short and a long call, one expiration; an iron butterfly counts too),
``stock`` (shares only), ``other`` (anything else, e.g. stock + short call); `description` says more.

**Earnings.** A position is held across an earnings reaction when, for an earnings event of its symbol,
entry < reaction day <= exit (entered before the reaction day, not yet closed before it). Reaction day:
the earnings date for BMO/DMH/UNKNOWN, the next trading day for AMC — from the build's `earnings_events`
mart (NYSE holidays respected).
`trade_journal.earnings_date` is NOT used: it is filled only for some debit lots and is no earnings flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ivcrush.workspace import mart_path

WAREHOUSE = "warehouse.duckdb"  # a build's DuckDB file (raw tables and the dbt staging views)
LOTS_MODEL = "stg_ivcrush__trade_journal"

SIDE_STRIKES = ("short_put", "long_put", "short_call", "long_call")
STRUCTURES = ("single", "vertical spread", "strangle/straddle", "iron condor", "stock", "other")
POSITION_COLUMNS = [
    "position_id",
    "symbol",
    "entry_date",
    "exit_date",
    "expirations",
    "strikes",
    "option_types",
    "short_strikes",
    *SIDE_STRIKES,
    "legs",
    "short_legs",
    "lots",
    "contracts",
    "shares",
    "net_open_premium",
    "is_credit",
    "pnl",
    "structure",
    "description",
    "rolled_from",
]
EARNINGS_COLUMNS = ["crosses_earnings", "earnings_date", "earnings_timing", "reaction_date", "earnings_events_crossed"]


def read_lots(build_dir: Path) -> pd.DataFrame:
    """The trade journal's lots as the build's staging model gives them (dates in trading order, side)."""
    with duckdb.connect(str(Path(build_dir) / WAREHOUSE), read_only=True) as con:
        return con.sql(f"select * from {LOTS_MODEL} order by lot_id").df()


def _lots(lots: pd.DataFrame) -> pd.DataFrame:
    """The staging model's lots with the keys the grouping uses."""
    out = lots.rename(columns={"entry_date": "entry", "exit_date": "exit", "is_short": "short"})
    out["expiration"] = pd.to_datetime(out["expiration"])
    out["option_type"] = out["option_type"].astype("object").where(out["option_type"].notna(), None)
    out["is_stock"] = out["option_type"].isna()
    out["exp_key"] = out["expiration"].dt.strftime("%Y-%m-%d").fillna("stock")
    return out


@dataclass(frozen=True)
class _Leg:
    option_type: str | None  # PUT, CALL; None for shares
    strike: float
    expiration: pd.Timestamp
    short: bool
    quantity: float


def _classify(legs: list[_Leg]) -> tuple[str, str]:
    """Structure and a plain description from the legs (one per distinct leg)."""
    stock = [leg for leg in legs if leg.option_type is None]
    options = [leg for leg in legs if leg.option_type is not None]
    if not options:
        return "stock", "shares" if not any(leg.short for leg in stock) else "short shares"
    if stock:
        if len(options) == 1 and options[0].short and options[0].option_type == "CALL":
            return "other", "covered call (shares + short call)"
        return "other", "shares with options"
    n_exp = len({leg.expiration for leg in options})
    puts = [leg for leg in options if leg.option_type == "PUT"]
    calls = [leg for leg in options if leg.option_type == "CALL"]
    if len(options) == 1:
        leg = options[0]
        return "single", f"{'short' if leg.short else 'long'} {str(leg.option_type).lower()}"
    shorts = [leg for leg in options if leg.short]
    if n_exp == 1 and len(options) == 2:
        if len({leg.option_type for leg in options}) == 1 and len(shorts) == 1:
            kind = str(options[0].option_type).lower()
            short_k = shorts[0].strike
            long_k = next(leg.strike for leg in options if not leg.short)
            credit = (short_k > long_k) if kind == "put" else (short_k < long_k)
            return "vertical spread", f"{kind} {'credit' if credit else 'debit'} spread"
        if len(puts) == 1 and len(calls) == 1 and len(shorts) == 2:
            return "strangle/straddle", "short straddle" if puts[0].strike == calls[0].strike else "short strangle"
    short_puts, short_calls = [leg for leg in puts if leg.short], [leg for leg in calls if leg.short]
    if n_exp == 1 and len(puts) == 2 and len(calls) == 2 and len(short_puts) == 1 and len(short_calls) == 1:
        short_put, short_call = short_puts[0].strike, short_calls[0].strike
        long_put = next(leg.strike for leg in puts if not leg.short)
        long_call = next(leg.strike for leg in calls if not leg.short)
        if long_put < short_put <= short_call < long_call:
            return "iron condor", "iron butterfly" if short_put == short_call else "iron condor"
    if n_exp > 1:
        return "other", f"{len(options)} legs over {n_exp} expirations (calendar/diagonal)"
    return "other", f"{len(options)} option legs"


def _side_strikes(options: list[_Leg]) -> dict[str, float]:
    """The short put nearest the money and its long wing below it, the same for calls above (NaN: none)."""
    out = dict.fromkeys(SIDE_STRIKES, float("nan"))
    for kind, nearest, beyond in (("PUT", max, lambda k, s: k < s), ("CALL", min, lambda k, s: k > s)):
        shorts = [leg.strike for leg in options if leg.option_type == kind and leg.short]
        if not shorts:
            continue
        short = nearest(shorts)
        wings = [
            leg.strike for leg in options if leg.option_type == kind and not leg.short and beyond(leg.strike, short)
        ]
        out[f"short_{kind.lower()}"] = short
        if wings:
            out[f"long_{kind.lower()}"] = nearest(wings)
    return out


def _fmt_num(x: float) -> str:
    return f"{x:g}"


def group_positions(lots: pd.DataFrame) -> pd.DataFrame:
    """One row per position of the staging model's lots (rules in the module docstring), sorted by entry date
    and symbol."""
    if lots.empty:
        return pd.DataFrame(columns=POSITION_COLUMNS)
    lots = _lots(lots)
    # 2. components: symbol + entry date + expiration
    comp = lots.groupby(["symbol", "entry", "exp_key"], sort=True).agg(exit=("exit", "max")).reset_index()
    # 3. merge components of one symbol and entry date with different expirations only where exits agree
    comp["group"] = comp.groupby(["symbol", "entry", "exit"], sort=True).ngroup()
    lots = lots.merge(comp[["symbol", "entry", "exp_key", "group"]], on=["symbol", "entry", "exp_key"])
    lots["type_key"] = lots["option_type"].fillna("STOCK")
    lots["premium"] = lots["proceeds"].where(lots["short"], -lots["cost_basis"])
    lots["stock_quantity"] = lots["quantity"].where(lots["is_stock"], 0.0)
    totals = lots.groupby("group", sort=False).agg(
        symbol=("symbol", "first"),
        entry_date=("entry", "min"),
        exit_date=("exit", "max"),
        lots=("symbol", "size"),
        shares=("stock_quantity", "sum"),
        premium=("premium", "sum"),
        pnl=("gain_loss", "sum"),
    )
    leg_keys = ["group", "type_key", "strike", "expiration", "short", "is_stock"]
    all_legs = lots.groupby(leg_keys, dropna=False, sort=False).agg(quantity=("quantity", "sum")).reset_index()
    all_legs["option_type"] = all_legs["type_key"].where(all_legs["type_key"] != "STOCK", None)
    legs_of: dict[object, list[_Leg]] = {}
    for row in all_legs.itertuples(index=False):
        leg = _Leg(row.option_type, float(row.strike), row.expiration, bool(row.short), float(row.quantity))
        legs_of.setdefault(row.group, []).append(leg)
    rows = []
    for group, total in totals.iterrows():
        legs = legs_of[group]
        options = [leg for leg in legs if leg.option_type is not None]
        structure, description = _classify(legs)
        open_premium = float(total["premium"])
        rows.append(
            {
                "symbol": total["symbol"],
                "entry_date": total["entry_date"],
                "exit_date": total["exit_date"],
                "expirations": ",".join(sorted({f"{leg.expiration:%Y-%m-%d}" for leg in options})),
                "strikes": "/".join(_fmt_num(k) for k in sorted({leg.strike for leg in options})),
                "option_types": ",".join(sorted({str(leg.option_type) for leg in options})) or "STOCK",
                "short_strikes": tuple(sorted(leg.strike for leg in options if leg.short)),
                **_side_strikes(options),
                "legs": len(legs),
                "short_legs": sum(leg.short for leg in options),
                "lots": int(total["lots"]),
                "contracts": max((leg.quantity for leg in options), default=0.0),
                "shares": float(total["shares"]),
                "net_open_premium": round(open_premium, 2),
                "is_credit": bool(any(leg.short for leg in options) and open_premium > 0),
                "pnl": round(float(total["pnl"]), 2),
                "structure": structure,
                "description": description,
                "_signature": frozenset((leg.option_type, leg.strike, leg.expiration) for leg in options),
            }
        )
    positions = pd.DataFrame(rows).sort_values(["entry_date", "symbol", "exit_date", "expirations"], kind="stable")
    positions = positions.reset_index(drop=True)
    positions["position_id"] = [
        f"{r.symbol}:{r.entry_date:%Y-%m-%d}:{i}" for i, r in enumerate(positions.itertuples(index=False), start=1)
    ]
    positions["rolled_from"] = _rolls(positions)
    return positions[POSITION_COLUMNS]


def _rolls(positions: pd.DataFrame) -> pd.Series:
    """`rolled_from` of each position: an option position of the same symbol that closed on its entry day."""
    rolled = pd.Series([None] * len(positions), index=positions.index, dtype="object")
    options = positions[positions["option_types"] != "STOCK"].rename(columns={"_signature": "signature"})
    records = list(options.itertuples())
    by_symbol: dict[str, list] = {}
    for record in records:
        by_symbol.setdefault(record.symbol, []).append(record)
    for new in records:
        old = [
            p
            for p in by_symbol[new.symbol]
            if p.exit_date == new.entry_date
            and p.entry_date < new.entry_date
            and p.Index != new.Index
            and p.signature != new.signature
        ]
        if old:
            same_types = [p for p in old if p.option_types == new.option_types]
            rolled[new.Index] = (same_types or old)[-1].position_id
    return rolled


def reactions_from_build(build_dir: Path) -> pd.DataFrame:
    """Earnings events with their reaction day from a build's `earnings_events` mart (NYSE trading days)."""
    events = pd.read_parquet(
        mart_path(Path(build_dir), "earnings_events"), columns=["ticker", "earnings_date", "timing", "reaction_date"]
    )
    for column in ("earnings_date", "reaction_date"):
        events[column] = pd.to_datetime(events[column])
    return events.drop_duplicates(["ticker", "earnings_date"]).reset_index(drop=True)


def mark_earnings(positions: pd.DataFrame, reactions: pd.DataFrame) -> pd.DataFrame:
    """Add whether each position was held across an earnings reaction of its symbol (entry < reaction <= exit).

    Where several reactions fall inside one holding period the first is named and the count is kept in
    `earnings_events_crossed`. Non-earnings positions get timing "none".
    """
    out = positions.copy()
    held = reactions[reactions["ticker"].isin(set(out["symbol"]))]
    by_ticker = {t: g.sort_values("reaction_date") for t, g in held.groupby("ticker")}
    found = []
    for pos in out.itertuples(index=False):
        events = by_ticker.get(pos.symbol)
        hit = (
            None
            if events is None
            else events[(events["reaction_date"] > pos.entry_date) & (events["reaction_date"] <= pos.exit_date)]
        )
        if hit is None or hit.empty:
            found.append((False, pd.NaT, "none", pd.NaT, 0))
        else:
            first = hit.iloc[0]
            found.append((True, first["earnings_date"], first["timing"], first["reaction_date"], len(hit)))
    out[EARNINGS_COLUMNS] = pd.DataFrame(found, columns=EARNINGS_COLUMNS, index=out.index)
    out["crosses_earnings"] = out["crosses_earnings"].astype(bool)
    out["earnings_events_crossed"] = out["earnings_events_crossed"].astype(int)
    return out


def journal_positions(build_dir: Path) -> pd.DataFrame:
    """Positions of a build's trade journal with earnings marked by the build's reaction days."""
    return mark_earnings(group_positions(read_lots(build_dir)), reactions_from_build(Path(build_dir)))


def structure_counts(positions: pd.DataFrame) -> pd.Series:
    return positions["structure"].value_counts().reindex(list(STRUCTURES), fill_value=0)

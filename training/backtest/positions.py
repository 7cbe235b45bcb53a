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


def _classify(legs: pd.DataFrame) -> tuple[str, str]:
    """Structure and a plain description from the legs (one row per distinct leg)."""
    stock = legs[legs["is_stock"]]
    options = legs[~legs["is_stock"]]
    if options.empty:
        return "stock", "shares" if not stock["short"].any() else "short shares"
    if not stock.empty:
        if len(options) == 1 and options["short"].all() and (options["option_type"] == "CALL").all():
            return "other", "covered call (shares + short call)"
        return "other", "shares with options"
    n_exp = options["expiration"].nunique()
    puts = options[options["option_type"] == "PUT"]
    calls = options[options["option_type"] == "CALL"]
    if len(options) == 1:
        leg = options.iloc[0]
        return "single", f"{'short' if leg['short'] else 'long'} {leg['option_type'].lower()}"
    if n_exp == 1 and len(options) == 2:
        if options["option_type"].nunique() == 1 and options["short"].sum() == 1:
            kind = options["option_type"].iloc[0].lower()
            short_k = options.loc[options["short"], "strike"].iloc[0]
            long_k = options.loc[~options["short"], "strike"].iloc[0]
            credit = (short_k > long_k) if kind == "put" else (short_k < long_k)
            return "vertical spread", f"{kind} {'credit' if credit else 'debit'} spread"
        if len(puts) == 1 and len(calls) == 1 and options["short"].all():
            same = puts["strike"].iloc[0] == calls["strike"].iloc[0]
            return "strangle/straddle", "short straddle" if same else "short strangle"
    if n_exp == 1 and len(puts) == 2 and len(calls) == 2 and puts["short"].sum() == 1 and calls["short"].sum() == 1:
        short_put = puts.loc[puts["short"], "strike"].iloc[0]
        long_put = puts.loc[~puts["short"], "strike"].iloc[0]
        short_call = calls.loc[calls["short"], "strike"].iloc[0]
        long_call = calls.loc[~calls["short"], "strike"].iloc[0]
        if long_put < short_put <= short_call < long_call:
            return "iron condor", "iron butterfly" if short_put == short_call else "iron condor"
    if n_exp > 1:
        return "other", f"{len(options)} legs over {n_exp} expirations (calendar/diagonal)"
    return "other", f"{len(options)} option legs"


def _side_strikes(options: pd.DataFrame) -> dict[str, float]:
    """The short put nearest the money and its long wing below it, the same for calls above (NaN: none)."""
    out = dict.fromkeys(SIDE_STRIKES, float("nan"))
    for kind, nearest, beyond in (("PUT", max, lambda k, s: k < s), ("CALL", min, lambda k, s: k > s)):
        legs = options[options["option_type"] == kind]
        shorts = legs.loc[legs["short"], "strike"].astype(float).tolist()
        if not shorts:
            continue
        short = nearest(shorts)
        wings = [k for k in legs.loc[~legs["short"], "strike"].astype(float) if beyond(k, short)]
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
    rows = []
    for _, pos in lots.groupby("group", sort=False):
        leg_keys = ["option_type", "strike", "expiration", "short", "is_stock"]
        legs = (
            pos.assign(option_type=pos["option_type"].fillna("STOCK"))
            .groupby(leg_keys, dropna=False)
            .agg(quantity=("quantity", "sum"))
            .reset_index()
        )
        legs["option_type"] = legs["option_type"].where(legs["option_type"] != "STOCK", None)
        options = legs[~legs["is_stock"]]
        structure, description = _classify(legs)
        open_premium = float(pos.loc[pos["short"], "proceeds"].sum() - pos.loc[~pos["short"], "cost_basis"].sum())
        short_strikes = tuple(sorted(options.loc[options["short"], "strike"].astype(float).tolist()))
        rows.append(
            {
                "symbol": pos["symbol"].iloc[0],
                "entry_date": pos["entry"].min(),
                "exit_date": pos["exit"].max(),
                "expirations": ",".join(sorted(options["expiration"].dt.strftime("%Y-%m-%d").unique())),
                "strikes": "/".join(_fmt_num(k) for k in sorted(options["strike"].astype(float).unique())),
                "option_types": ",".join(sorted(options["option_type"].unique())) or "STOCK",
                "short_strikes": short_strikes,
                **_side_strikes(options),
                "legs": len(legs),
                "short_legs": int(options["short"].sum()),
                "lots": len(pos),
                "contracts": float(options["quantity"].max()) if not options.empty else 0.0,
                "shares": float(pos.loc[pos["is_stock"], "quantity"].sum()),
                "net_open_premium": round(open_premium, 2),
                "is_credit": bool(options["short"].any() and open_premium > 0),
                "pnl": round(float(pos["gain_loss"].sum()), 2),
                "structure": structure,
                "description": description,
                "_signature": frozenset(
                    zip(options["option_type"], options["strike"], options["expiration"], strict=True)
                ),
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
    options = positions[positions["option_types"] != "STOCK"]
    for i, new in options.iterrows():
        old = options[
            (options["symbol"] == new["symbol"])
            & (options["exit_date"] == new["entry_date"])
            & (options["entry_date"] < new["entry_date"])
            & (options.index != i)
        ]
        old = old[old["_signature"].map(lambda sig, new_sig=new["_signature"]: sig != new_sig)]
        if not old.empty:
            same_types = old[old["option_types"] == new["option_types"]]
            rolled[i] = (same_types if not same_types.empty else old)["position_id"].iloc[-1]
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
    by_ticker = {t: g.sort_values("reaction_date") for t, g in reactions.groupby("ticker")}
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

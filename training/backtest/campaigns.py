"""Roll chains and capital at risk: the journal's positions as campaigns, the unit of every journal figure.

**Roll chain.** A position B continues position A's campaign when B is A's `rolled_from` roll, or when both
are option positions of the same symbol, of the same option types and both credit (or both debit), and B
was opened 0 to `roll_days` business days after A was closed. A campaign's P&L is the sum of its positions';
it crossed earnings when any of its positions did (named by the first that did: the earnings leg the forecast
is about); its capital at risk is the largest of its positions'.

**Capital at risk** of one position (dollars): defined risk (every short side has a long wing) -> the max loss,
widest wing x 100 x contracts less the net credit; naked short options -> Reg-T margin
(`training.economics.reg_t_naked_margin`) at the decision-time spot where the position is an earnings one,
else at the short strike (the journal has no prices: stated in `capital_basis`); long options -> the premium
paid; shares -> their cost.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ivcrush.training.economics import SHARES_PER_CONTRACT, reg_t_naked_margin


def _roots(parent: list[int]) -> list[int]:
    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    return [find(i) for i in range(len(parent))]


def roll_links(positions: pd.DataFrame, roll_days: int) -> pd.Series:
    """Each position's campaign id: the position_id of the first position of its roll chain."""
    frame = positions.reset_index(drop=True)
    parent = list(range(len(frame)))
    index_of = {pid: i for i, pid in enumerate(frame["position_id"])}
    options = frame["option_types"].ne("STOCK")
    entry = frame["entry_date"].to_numpy(dtype="datetime64[D]")
    exit_ = frame["exit_date"].to_numpy(dtype="datetime64[D]")
    for j in range(len(frame)):
        links = []
        rolled = frame.at[j, "rolled_from"]
        if isinstance(rolled, str) and rolled in index_of:
            links.append(index_of[rolled])
        if options[j]:
            same = (
                options
                & frame["symbol"].eq(frame.at[j, "symbol"])
                & frame["option_types"].eq(frame.at[j, "option_types"])
                & frame["is_credit"].eq(frame.at[j, "is_credit"])
            ).to_numpy()
            gap = np.busday_count(exit_, entry[j])
            links += np.flatnonzero(same & (gap >= 0) & (gap <= roll_days) & (entry < entry[j])).tolist()
        for i in links:
            root_i, root_j = _roots(parent)[i], _roots(parent)[j]
            parent[max(root_i, root_j)] = min(root_i, root_j)
    roots = _roots(parent)
    return pd.Series([frame.at[r, "position_id"] for r in roots], index=positions.index, name="campaign_id")


def capital_at_risk(position: pd.Series, spot: float | None) -> tuple[float, str]:
    """(dollars, basis) of one position (rules in the module docstring)."""
    contracts = float(position["contracts"])
    premium = float(position["net_open_premium"])
    if position["option_types"] == "STOCK" or float(position.get("shares", 0.0)) > 0:
        return max(-premium, 0.0), "cost of the shares (net of option premium)"
    sides = []
    for kind in ("put", "call"):
        short, long = position[f"short_{kind}"], position[f"long_{kind}"]
        if pd.notna(short):
            sides.append((kind, float(short), None if pd.isna(long) else abs(float(long) - float(short))))
    if not sides:
        return max(-premium, 0.0), "premium paid (long options)"
    if all(width is not None for _, _, width in sides):
        widest = max(width for _, _, width in sides if width is not None)
        return max(widest * SHARES_PER_CONTRACT * contracts - premium, 0.0), "max loss (defined risk)"
    per_share = max(premium, 0.0) / (SHARES_PER_CONTRACT * contracts * len(sides)) if contracts else 0.0
    at = spot if spot is not None and math.isfinite(spot) else None
    margin = reg_t_naked_margin(
        at if at is not None else float(np.mean([strike for _, strike, _ in sides])),
        [(kind, strike, per_share) for kind, strike, _ in sides],
    )
    where = "at the decision-time spot" if at is not None else "at the short strike (no price in the journal)"
    return margin * contracts, f"Reg-T margin (naked) {where}"


def build_campaigns(positions: pd.DataFrame, roll_days: int, spots: pd.Series | None = None) -> pd.DataFrame:
    """One row per campaign (roll chain) of `positions` (marked with earnings), with its capital at risk.

    `spots`: decision-time spot per position (index of `positions`, NaN where unknown). The campaign keeps
    the first earnings-crossing position's fields (strikes, contracts, premium, event) as its earnings leg."""
    frame = positions.copy()
    frame["campaign_id"] = roll_links(frame, roll_days)
    spots = spots if spots is not None else pd.Series(np.nan, index=frame.index)
    capital = [capital_at_risk(row, spots.get(i)) for i, row in frame.iterrows()]
    frame["capital"] = [c for c, _ in capital]
    frame["capital_basis"] = [b for _, b in capital]
    rows = []
    for campaign_id, members in frame.groupby("campaign_id", sort=False):
        members = members.sort_values("entry_date", kind="stable")
        earnings = members[members["crosses_earnings"].astype(bool)]
        lead = earnings.iloc[0] if len(earnings) else members.iloc[0]
        widest = members["capital"].idxmax()
        row = lead.to_dict()
        row.update(
            campaign_id=campaign_id,
            lead_position=lead["position_id"],
            positions=len(members),
            position_ids=" > ".join(members["position_id"]),
            entry_date=members["entry_date"].min(),
            exit_date=members["exit_date"].max(),
            pnl=round(float(members["pnl"].sum()), 2),
            lead_pnl=float(lead["pnl"]),
            crosses_earnings=bool(len(earnings)),
            capital=float(members.at[widest, "capital"]),
            capital_basis=members.at[widest, "capital_basis"],
            description=lead["description"] + (f" (+{len(members) - 1} roll(s))" if len(members) > 1 else ""),
        )
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["entry_date", "campaign_id"], kind="stable").reset_index(drop=True)

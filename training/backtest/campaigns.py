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
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ivcrush.training.economics import SHARES_PER_CONTRACT, reg_t_naked_margin


def roll_links(positions: pd.DataFrame, roll_days: int) -> pd.Series:
    """Each position's campaign id: the position_id of the first position of its roll chain."""
    ids = positions["position_id"].to_numpy()
    parent = np.arange(len(ids))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    index_of = {pid: i for i, pid in enumerate(ids)}
    options = positions["option_types"].ne("STOCK").to_numpy()
    symbol, kinds = positions["symbol"].to_numpy(), positions["option_types"].to_numpy()
    credit = positions["is_credit"].astype(bool).to_numpy()
    entry = positions["entry_date"].to_numpy(dtype="datetime64[D]")
    exit_ = positions["exit_date"].to_numpy(dtype="datetime64[D]")
    for j, rolled in enumerate(positions["rolled_from"].to_numpy()):
        links = [index_of[rolled]] if isinstance(rolled, str) and rolled in index_of else []
        if options[j]:
            same = options & (symbol == symbol[j]) & (kinds == kinds[j]) & (credit == credit[j]) & (entry < entry[j])
            candidates = np.flatnonzero(same)
            gap = np.busday_count(exit_[candidates], entry[j])
            links += candidates[(gap >= 0) & (gap <= roll_days)].tolist()
        for i in links:
            a, b = root(i), root(j)
            parent[max(a, b)] = min(a, b)
    return pd.Series([ids[root(i)] for i in range(len(ids))], index=positions.index, name="campaign_id")


def capital_at_risk(position: Mapping[str, Any], spot: float | None) -> tuple[float, str]:
    """(dollars, basis) of one position (rules in the module docstring)."""
    contracts = float(position["contracts"])
    premium = float(position["net_open_premium"])
    if position["option_types"] == "STOCK" or float(position.get("shares") or 0.0) > 0:
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
    campaign_ids = roll_links(positions, roll_days).tolist()
    spot_of = spots.tolist() if spots is not None else [None] * len(positions)
    members: dict[str, list[dict[str, Any]]] = {}
    for record, campaign_id, spot in zip(positions.to_dict("records"), campaign_ids, spot_of, strict=True):
        record["capital"], record["capital_basis"] = capital_at_risk(record, spot)
        members.setdefault(campaign_id, []).append(record)
    rows = []
    for campaign_id, chain in members.items():
        chain.sort(key=lambda r: r["entry_date"])
        earnings = [r for r in chain if r["crosses_earnings"]]
        lead = earnings[0] if earnings else chain[0]
        widest = max(chain, key=lambda r: r["capital"])
        rolls = f" (+{len(chain) - 1} roll(s))" if len(chain) > 1 else ""
        rows.append(
            lead
            | {
                "campaign_id": campaign_id,
                "lead_position": lead["position_id"],
                "positions": len(chain),
                "position_ids": " > ".join(r["position_id"] for r in chain),
                "entry_date": min(r["entry_date"] for r in chain),
                "exit_date": max(r["exit_date"] for r in chain),
                "pnl": round(sum(float(r["pnl"]) for r in chain), 2),
                "lead_pnl": float(lead["pnl"]),
                "crosses_earnings": bool(earnings),
                "capital": float(widest["capital"]),
                "capital_basis": widest["capital_basis"],
                "description": lead["description"] + rolls,
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values(["entry_date", "campaign_id"], kind="stable").reset_index(drop=True) if rows else out

"""The journal's filter policy, chosen walk-forward: skip an earnings campaign when its forecast P(loss) is
above a threshold, the threshold re-chosen at the start of every month from the campaigns closed before it
and applied to the campaigns entered in that month.

At each month: every grid threshold is scored by the net P&L of the campaigns it would have kept among those
closed before the month (with a forecast); a threshold is eligible only when it keeps AND skips at least
`min_side` of them and its gain over take-all (the P&L of the skipped campaigns, negated) stays positive
without the single largest loss it avoided (1.0, take all, is always eligible): one loss cannot make a
threshold; the scores are smoothed over each threshold and its two neighbours; the best smoothed score wins,
ties -> the larger threshold (fewer skips). Fewer than `min_history` closed campaigns: take all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

GRID = tuple(round(x, 2) for x in np.arange(0.05, 1.0001, 0.05))
MIN_SIDE = 5
MIN_HISTORY = 10
SMOOTHING = 3  # thresholds averaged: each with its two neighbours


def score_grid(history: pd.DataFrame, grid: Sequence[float], min_side: int) -> pd.DataFrame:
    """Per threshold: kept, skipped, net P&L kept, the gain without the largest avoided loss, eligibility and the
    smoothed net P&L."""
    score = history["p_loss"].to_numpy(dtype="float64")
    pnl = history["pnl"].to_numpy(dtype="float64")
    rows = []
    for threshold in grid:
        kept = ~(score > threshold)
        avoided = -pnl[~kept]
        rows.append(
            {
                "threshold": threshold,
                "kept": int(kept.sum()),
                "skipped": int((~kept).sum()),
                "net_pnl_kept": float(pnl[kept].sum()),
                "gain_without_largest": float(avoided.sum() - max(avoided.max(initial=0.0), 0.0)),
            }
        )
    table = pd.DataFrame(rows)
    sides = table["kept"].ge(min_side) & table["skipped"].ge(min_side)
    table["eligible"] = table["threshold"].eq(1.0) | (sides & table["gain_without_largest"].gt(0))
    table["smoothed_net_pnl"] = table["net_pnl_kept"].rolling(SMOOTHING, center=True, min_periods=1).mean()
    return table


def choose(history: pd.DataFrame, grid: Sequence[float], min_side: int) -> tuple[float, str]:
    """(threshold, why) from the closed campaigns `history` (columns p_loss, pnl)."""
    table = score_grid(history, grid, min_side)
    eligible = table[table["eligible"]]
    best = eligible[eligible["smoothed_net_pnl"] == eligible["smoothed_net_pnl"].max()]
    threshold = float(best["threshold"].max())
    row = table[table["threshold"] == threshold].iloc[0]
    why = (
        f"{len(history)} closed campaigns: keeps {row['kept']}, skips {row['skipped']}, smoothed net "
        f"{'-' if row['smoothed_net_pnl'] < 0 else ''}${abs(row['smoothed_net_pnl']):,.0f} "
        f"({int(table['eligible'].sum())} of {len(table)} thresholds eligible)"
    )
    return threshold, why


def walk_forward(
    campaigns: pd.DataFrame,
    grid: Sequence[float] = GRID,
    min_side: int = MIN_SIDE,
    min_history: int = MIN_HISTORY,
) -> tuple[pd.DataFrame, pd.Series]:
    """(the threshold of each month, whether the policy takes each campaign).

    `campaigns`: entry_date, exit_date, pnl, crosses_earnings and p_loss (NaN: no forecast, always taken).
    The months run from the first entry to the last; a campaign is judged by its entry month's threshold,
    chosen only from campaigns whose exit date is before that month began."""
    grid = sorted({*grid, 1.0})
    scored = campaigns[campaigns["crosses_earnings"].astype(bool) & campaigns["p_loss"].notna()]
    entry_month = pd.to_datetime(campaigns["entry_date"]).dt.to_period("M")
    months = pd.period_range(entry_month.min(), entry_month.max(), freq="M") if len(campaigns) else []
    rows = []
    for month in months:
        start = month.start_time
        history = scored[pd.to_datetime(scored["exit_date"]) < start]
        if len(history) < min_history:
            threshold, why, live = 1.0, f"warm-up: {len(history)} closed campaigns (< {min_history}): take all", False
        else:
            (threshold, why), live = choose(history, grid, min_side), True
        rows.append({"month": str(month), "threshold": threshold, "live": live, "history": len(history), "why": why})
    table = pd.DataFrame(rows, columns=["month", "threshold", "live", "history", "why"])
    by_month = dict(zip(table["month"], table["threshold"], strict=True))
    threshold = entry_month.astype(str).map(by_month).astype(float)
    earnings = campaigns["crosses_earnings"].astype(bool)
    taken = ~(earnings & (campaigns["p_loss"] > threshold))
    return table, taken.rename("taken")

"""Journal backtest: the trader's real positions held across earnings, with and without an ML filter.

For each position, the point-in-time forecast distribution (`MoveDistribution`) gives P(|move| > distance to
the nearest short strike); a skip
threshold on that probability is chosen on the positions before a split date and applied, unchanged, to the
positions after it. Returns a plain dict (tables as DataFrames, every assumption as text in "notes");
`training.backtest.report` renders it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.settings import Settings
from ivcrush.training.backtest.events import add_decision_spot, close_utc, in_date_range, known_before, load_events
from ivcrush.training.backtest.forecasters import TAIL_COLUMNS, Forecaster, check_forecast, lightgbm_forecaster
from ivcrush.training.backtest.metrics import DEFAULT_EQUITY, SMALL_SAMPLE, breakdowns, metrics, sharpe_basis
from ivcrush.training.backtest.positions import journal_positions
from ivcrush.training.distribution import MoveDistribution
from ivcrush.workspace import Generation

# A short strike further than this from the event's close means the prices are not comparable (the history
# is split-adjusted, the journal is not: NFLX's January 2025 strikes are ~10x its stored prev_close).
MAX_STRIKE_DISTANCE_PCT = 60.0


def _choose_threshold(early: pd.DataFrame, grid: Sequence[float], objective: str) -> tuple[float, pd.DataFrame]:
    """Grid search on the early positions: keep p_breach <= threshold (no forecast: kept); ties -> larger."""
    rows = []
    for threshold in sorted(grid):
        kept = early[~(early["p_breach"] > threshold)]
        pnl = kept["pnl"]
        losses = -pnl[pnl < 0].sum()
        pf = pnl[pnl > 0].sum() / losses if losses > 0 else (math.inf if (pnl > 0).any() else math.nan)
        rows.append(
            {
                "threshold": threshold,
                "kept": len(kept),
                "skipped": len(early) - len(kept),
                "net_pnl": float(pnl.sum()),
                "profit_factor": pf,
            }
        )
    table = pd.DataFrame(rows)
    score = table["net_pnl"] if objective == "net_pnl" else table["profit_factor"].fillna(-math.inf)
    best = table[score == score.max()]
    return float(best["threshold"].max()), table


def journal_backtest(
    positions: pd.DataFrame,
    events_dataset: pd.DataFrame,
    forecaster: Forecaster,
    *,
    policy_split_date: object = None,
    date_from: object = None,
    date_to: object = None,
    objective: str = "net_pnl",
    grid: Sequence[float] | None = None,
    equity: float = DEFAULT_EQUITY,
    train_trusted_only: bool = True,
) -> dict:
    """Would skipping the trader's earnings positions with a high forecast breach probability have helped?

    `positions`: `training.backtest.positions` with earnings marked. Only positions held across an earnings
    reaction take part. For each, the forecaster is trained on events whose outcome was known before 16:00
    New York on the position's entry date (one call per entry date; trusted labels only by default) and
    forecasts the position's event. p_breach = P(|move| > distance to the nearest short strike) with
    distance = |strike / decision_spot - 1| x 100: two-sided, so for a one-sided position (a short put) it
    is an upper bound, about twice the one-sided probability for a symmetric move.

    Policy: skip a position when p_breach > threshold. The threshold is chosen on positions entered before
    `policy_split_date` (default: the median entry date of the earnings positions) over `grid`, maximising
    `objective` ("net_pnl" or "profit_factor"; ties -> the larger threshold, i.e. fewer skips; 1.0 = take
    all), and applied unchanged to the positions entered on or after it. Positions without a forecast
    (no short option leg, event not in the dataset) are always taken.
    """
    if objective not in {"net_pnl", "profit_factor"}:
        raise ValueError("objective must be 'net_pnl' or 'profit_factor'")
    notes: list[str] = []
    in_range = positions[in_date_range(positions["entry_date"], date_from, date_to)]
    frame = in_range[in_range["crosses_earnings"].astype(bool)].copy()
    frame["entry_date"] = pd.to_datetime(frame["entry_date"])
    frame["exit_date"] = pd.to_datetime(frame["exit_date"])
    events = events_dataset.copy()
    events["earnings_date"] = pd.to_datetime(events["earnings_date"])
    if "decision_spot" not in events:
        events = add_decision_spot(events)
    lookup = events.set_index(["ticker", "earnings_date"])
    lookup = lookup[~lookup.index.duplicated()]

    for column in ("p_breach", "strike_distance_pct", "decision_spot", *QUANTILE_NAMES, *TAIL_COLUMNS):
        frame[column] = np.nan
    frame["forecast_note"] = ""
    for entry, group in frame.groupby("entry_date"):
        train = known_before(events, close_utc(entry), train_trusted_only)
        keys = list(zip(group["symbol"], pd.to_datetime(group["earnings_date"]), strict=True))
        present = [k in lookup.index for k in keys]
        usable = group[present & group["short_strikes"].map(lambda s: len(s) > 0).to_numpy()]
        frame.loc[group.index[~np.array(present)], "forecast_note"] = "event not in the dataset"
        frame.loc[group.index[group["short_strikes"].map(len).to_numpy() == 0], "forecast_note"] = "no short strike"
        if usable.empty:
            continue
        test = lookup.loc[list(zip(usable["symbol"], pd.to_datetime(usable["earnings_date"]), strict=True))]
        test = test.reset_index().set_index(usable.index)
        forecast = check_forecast(forecaster(train, test), test)
        for i in usable.index:
            spot = float(test.at[i, "decision_spot"])
            distance = min(abs(k / spot - 1) * 100 for k in usable.at[i, "short_strikes"])
            frame.loc[i, forecast.columns] = forecast.loc[i].to_numpy()
            frame.loc[i, ["decision_spot", "strike_distance_pct"]] = [spot, distance]
            if distance > MAX_STRIKE_DISTANCE_PCT:
                frame.loc[i, "forecast_note"] = (
                    f"strike {distance:.0f}% from the event's close {spot:.2f}: prices not comparable "
                    "(split-adjusted history?); no probability, always taken"
                )
                continue
            frame.loc[i, "p_breach"] = float(MoveDistribution.from_frame(forecast.loc[[i]]).sf(distance))
            frame.loc[i, "forecast_note"] = f"trained on {len(train)} events known before the entry close"

    if policy_split_date is None and len(frame):
        policy_split_date = frame["entry_date"].sort_values().iloc[len(frame) // 2]
        notes.append(f"no split date given: the median entry date {policy_split_date:%Y-%m-%d} splits the positions")
    split = pd.Timestamp(policy_split_date) if policy_split_date is not None else pd.Timestamp.max
    early = frame[frame["entry_date"] < split]
    later = frame[frame["entry_date"] >= split]
    grid = list(grid) if grid is not None else [round(x, 2) for x in np.arange(0.05, 1.0001, 0.05)]
    if 1.0 not in grid:
        grid.append(1.0)
    if early["p_breach"].notna().any():
        threshold, grid_table = _choose_threshold(early, grid, objective)
        how = (
            f"maximises {objective.replace('_', ' ')} over {len(early)} positions entered before "
            f"{split:%Y-%m-%d} (grid {min(grid):g}..{max(grid):g}; ties -> larger threshold)"
        )
    else:
        threshold, grid_table = 1.0, pd.DataFrame(columns=["threshold", "kept", "skipped", "net_pnl", "profit_factor"])
        how = "no early position with a forecast: take all (threshold 1.0)"
    frame["window"] = np.where(frame["entry_date"] < split, "choose (early)", "apply (later)")
    frame["taken_by_policy"] = ~(frame["p_breach"] > threshold)
    filtered = later[~(later["p_breach"] > threshold)]
    skipped = later[later["p_breach"] > threshold]

    side_by_side = pd.DataFrame(
        {
            "take all": metrics(later["pnl"], later["exit_date"], later["entry_date"], equity),
            f"filtered (p_breach <= {threshold:g})": metrics(
                filtered["pnl"], filtered["exit_date"], filtered["entry_date"], equity
            ),
        }
    ).T
    if len(later) < SMALL_SAMPLE or len(early) < SMALL_SAMPLE:
        notes.append(
            f"SAMPLE TOO SMALL FOR CONCLUSIONS: {len(early)} positions chose the threshold and {len(later)} "
            f"tested it (fewer than {SMALL_SAMPLE} each); the comparison shows the plumbing, not an edge"
        )
    notes.append(
        "p_breach is two-sided P(|move| > distance to the nearest short strike): an upper bound for "
        "a one-sided position"
    )
    notes.append(sharpe_basis(equity))
    return {
        "kind": "journal",
        "journal_metrics": breakdowns(in_range, equity),
        "journal_positions": in_range.reset_index(drop=True),
        "threshold": threshold,
        "threshold_chosen": how,
        "objective": objective,
        "policy_split_date": None if policy_split_date is None else pd.Timestamp(policy_split_date),
        "early_count": len(early),
        "later_count": len(later),
        "side_by_side": side_by_side,
        "grid": grid_table,
        "skipped": skipped[["position_id", "symbol", "entry_date", "pnl", "p_breach"]].reset_index(drop=True),
        "positions": frame.reset_index(drop=True),
        "equity": equity,
        "notes": notes,
    }


def run_journal_backtest(
    settings: Settings, generation: Generation, date_from: date | None, date_to: date | None
) -> dict:
    """The journal backtest of a published generation: the positions of its build's trade journal, its events,
    the LightGBM forecaster, the account's equity."""
    return journal_backtest(
        journal_positions(Path(generation.build_dir)),
        load_events(settings, generation),
        lightgbm_forecaster(),
        date_from=date_from,
        date_to=date_to,
        equity=settings.account.equity,
    )

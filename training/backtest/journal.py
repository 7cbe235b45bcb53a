"""Journal replay: the trader's real positions, as roll-chain campaigns, with and without a filter that skips
earnings campaigns whose out-of-sample forecast P(loss) is high.

Each earnings campaign's event gets its forecast from the walk-forward evaluation (`forecasts`: a model trained
only on outcomes known before the event's decision, the distribution serving would use); through the one
`MoveDistribution` its lead position (the one that crossed earnings) gets P(loss) = P(the move passes a short
strike by more than the credit net of costs) and an EV, both over the forecast at expiration value. Costs
(commission, slippage from settings, bid-ask modelled) enter P(loss) and EV; the journal's P&L is the broker's
realised gain/loss, already net of the fees actually paid. The threshold is chosen walk-forward (`policy`).
Nothing is trained here.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ivcrush import progress
from ivcrush.constants import QUANTILE_NAMES
from ivcrush.settings import Costs, Settings
from ivcrush.training.backtest import policy
from ivcrush.training.backtest.campaigns import build_campaigns
from ivcrush.training.backtest.events import NEW_YORK, event_frame, in_date_range
from ivcrush.training.backtest.forecasts import attach_forecasts, evaluation_dir, load_forecasts
from ivcrush.training.backtest.metrics import (
    SMALL_SAMPLE,
    account_returns,
    bootstrap_comparison,
    capital_in_use,
    metrics_frame,
)
from ivcrush.training.backtest.positions import journal_positions
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import SHARES_PER_CONTRACT, modelled_bid_ask, round_trip_cost
from ivcrush.workspace import Generation

# A short strike further than this from the event's close means the prices are not comparable (the history
# is split-adjusted, the journal is not: NFLX's January 2025 strikes are ~10x its stored prev_close).
MAX_STRIKE_DISTANCE_PCT = 60.0
FAR = 1e6  # the distance of a side a structure does not have (no payout, no loss there)
EVENT_COLUMNS = ["decision_spot", "event_timestamp", *QUANTILE_NAMES, "tail_shape", "tail_scale", "p_up", "fold"]


def _event_of_each(campaigns: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The forecast event of each campaign's earnings leg (NaN where none)."""
    keys = events.drop_duplicates(["ticker", "earnings_date"]).set_index(["ticker", "earnings_date"])
    wanted = pd.MultiIndex.from_arrays([campaigns["symbol"], pd.to_datetime(campaigns["earnings_date"])])
    return keys.reindex(wanted)[[*EVENT_COLUMNS, "trained_until"]].set_axis(campaigns.index)


def score(campaigns: pd.DataFrame, events: pd.DataFrame, costs: Costs) -> pd.DataFrame:
    """`campaigns` with each earnings leg's forecast, strike distance, credit and costs (% of spot), P(loss) and
    EV (dollars, the lead position's contracts) under its forecast distribution; `forecast_note` says why not."""
    out = campaigns.join(_event_of_each(campaigns, events))
    spot = out["decision_spot"].astype(float)
    put = (1 - out["short_put"].astype(float) / spot) * 100
    call = (out["short_call"].astype(float) / spot - 1) * 100
    out["strike_distance_pct"] = pd.concat([put, call], axis=1).min(axis=1)
    contracts = out["contracts"].astype(float).where(out["contracts"] > 0)
    credit = out["net_open_premium"].astype(float) / (SHARES_PER_CONTRACT * contracts)
    legs = out["legs"].astype(float)
    cost = [
        round_trip_cost(costs, [modelled_bid_ask(costs, abs(c) / n)] * int(n)) if n > 0 and pd.notna(c) else 0.0
        for c, n in zip(credit, legs, strict=True)
    ]
    out["credit_pct"] = credit / spot * 100
    out["cost_pct"] = pd.Series(cost, index=out.index) / SHARES_PER_CONTRACT / spot * 100
    far = np.abs(pd.concat([put, call], axis=1)).max(axis=1) > MAX_STRIKE_DISTANCE_PCT
    short = out["short_put"].notna() | out["short_call"].notna()
    forecast = out["q50"].notna()
    usable = out["crosses_earnings"] & short & forecast & ~far
    out["forecast_note"] = np.select(
        [~out["crosses_earnings"], ~short, out["decision_spot"].isna(), ~forecast, far],
        [
            "no earnings crossed",
            "no short option: not scored, always taken",
            "event not in the build",
            "no out-of-sample forecast (before the evaluation's first fold)",
            "strike > 60% from the event's close: prices not comparable (split-adjusted history?); always taken",
        ],
        default="out-of-sample forecast of fold ",
    )
    out.loc[usable, "forecast_note"] += out.loc[usable, "fold"].astype(int).astype(str)
    out["p_loss"] = np.nan
    out["ev"] = np.nan
    if usable.any():
        rows = out[usable]
        distribution = MoveDistribution.from_frame(rows)
        width_put = ((rows["short_put"] - rows["long_put"]).abs() / rows["decision_spot"] * 100).fillna(FAR)
        width_call = ((rows["long_call"] - rows["short_call"]).abs() / rows["decision_spot"] * 100).fillna(FAR)
        sides = (put[usable].fillna(FAR), call[usable].fillna(FAR), width_put, width_call)
        net_credit = rows["credit_pct"] - rows["cost_pct"]
        p_up = rows["p_up"].fillna(0.5).to_numpy()
        out.loc[usable, "p_loss"] = distribution.prob_loss(net_credit.to_numpy(), *sides, p_up=p_up)
        payout = distribution.structure_payout(*sides, p_up=p_up)
        dollars = rows["decision_spot"] * rows["contracts"]  # 1% of spot per share x 100 shares = spot dollars
        out.loc[usable, "ev"] = (net_credit - payout) * dollars
    return out


def _mean_return_on_capital(campaigns: pd.DataFrame) -> float:
    capital = campaigns["capital"].astype(float).where(campaigns["capital"].astype(float) > 0)
    return float((campaigns["pnl"].astype(float) / capital).mean() * 100)


def journal_backtest(
    positions: pd.DataFrame,
    events: pd.DataFrame,
    *,
    costs: Costs,
    equity: float,
    roll_days: int,
    date_from: object = None,
    date_to: object = None,
    grid: tuple[float, ...] = policy.GRID,
    min_side: int = policy.MIN_SIDE,
    min_history: int = policy.MIN_HISTORY,
    resamples: int = 2000,
) -> dict:
    """The replay of `positions` (journal positions marked with earnings) against `events` (`event_frame` with
    the evaluation's forecasts attached); tables as DataFrames, every assumption in "notes"."""
    notes: list[str] = []
    chosen = positions[in_date_range(positions["entry_date"], date_from, date_to)]
    events = events[events["ticker"].isin(set(chosen["symbol"]))]
    spots = _event_of_each(chosen, events)["decision_spot"] if len(chosen) else None
    campaigns = build_campaigns(chosen, roll_days, spots)
    if campaigns.empty:
        campaigns = pd.DataFrame(columns=[*chosen.columns, "campaign_id", "capital", "capital_basis", "positions"])
    campaigns = score(campaigns, events, costs)
    months, taken = policy.walk_forward(campaigns, grid, min_side, min_history)
    campaigns["taken"] = taken
    live_months = set(months.loc[months["live"], "month"])
    month = pd.to_datetime(campaigns["entry_date"]).dt.to_period("M").astype(str)
    campaigns["policy_live"] = month.isin(live_months)
    compared = campaigns[campaigns["policy_live"]]
    earnings = compared[compared["crosses_earnings"].astype(bool)]
    comparison = {
        "earnings campaigns": bootstrap_comparison(earnings, earnings["taken"], resamples),
        "all campaigns": bootstrap_comparison(compared, compared["taken"], resamples),
    }
    frame = campaigns.assign(
        timing=campaigns["earnings_timing"].fillna("none"),
        earnings=np.where(campaigns["crosses_earnings"].astype(bool), "earnings", "non-earnings"),
    )
    rolled = campaigns[campaigns["positions"] > 1]
    scored = campaigns[campaigns["p_loss"].notna()]
    entry_close = (pd.to_datetime(scored["entry_date"]) + pd.Timedelta(hours=16)).dt.tz_localize(NEW_YORK)
    after_entry = int((pd.to_datetime(scored["trained_until"], utc=True) >= entry_close).sum())
    if after_entry:
        notes.append(
            f"{after_entry} of {len(scored)} scored campaigns were entered before their fold's model had seen its "
            "last training outcome (entered days before the event's decision): their forecast is as of the "
            "decision, a little later than the trader's entry"
        )
    if len(earnings) < SMALL_SAMPLE:
        notes.append(
            f"SAMPLE TOO SMALL FOR CONCLUSIONS: {len(earnings)} earnings campaigns in the months the policy was live "
            f"(fewer than {SMALL_SAMPLE}); the comparison shows the plumbing, not an edge"
        )
    notes += [
        f"{len(chosen)} positions form {len(campaigns)} campaigns ({len(rolled)} roll chains: reopened within "
        f"{roll_days} business day(s) of closing, same symbol and kind, or rolled_from)",
        "P(loss) and EV: the forecast distribution at expiration value of the lead position's strikes, credit net of "
        f"costs (${costs.commission_per_contract:g}/contract commission, {costs.slippage_share:.0%} of a modelled "
        "bid-ask per leg and fill); realised P&L is the broker's, net of the fees paid",
        "the threshold is re-chosen each month from campaigns closed before it (policy table); months before "
        f"{min_history} closed earnings campaigns with a forecast take all and are left out of the comparison",
    ]
    peak = capital_in_use(campaigns)
    if peak > equity:
        notes.append(
            f"capital at risk in use peaked at ${peak:,.0f}, {peak / equity:.1f}x the account equity ${equity:,.0f} "
            "from settings: returns over that equity overstate the account's; set [tool.ivcrush.account] equity "
            "(or IVCRUSH_ACCOUNT_EQUITY) to the real account's"
        )
    return {
        "kind": "journal",
        "campaigns": campaigns,
        "policy": months,
        "comparison": comparison,
        "journal_ci": {
            scope: bootstrap_comparison(part, pd.Series(True, index=part.index), resamples)
            for scope, part in (
                ("earnings", campaigns[campaigns["crosses_earnings"].astype(bool)]),
                ("non-earnings", campaigns[~campaigns["crosses_earnings"].astype(bool)]),
                ("all", campaigns),
            )
        },
        "journal_metrics": {
            "all": metrics_frame(frame),
            "by structure": metrics_frame(frame, "structure"),
            "by timing": metrics_frame(frame, "timing"),
            "earnings vs non-earnings": metrics_frame(frame, "earnings"),
        },
        "returns": {
            "whole journal": account_returns(campaigns, equity),
            "compared, take all": account_returns(compared, equity),
            "compared, filtered": account_returns(compared[compared["taken"]], equity),
        },
        "capital": {
            "peak_in_use": peak,
            "equity": equity,
            "mean_return_on_capital_pct": _mean_return_on_capital(campaigns),
        },
        "settings": {"roll_days": roll_days, "min_side": min_side, "min_history": min_history, "grid": list(grid)},
        "notes": notes,
    }


def run_journal_backtest(
    settings: Settings,
    generation: Generation,
    date_from: date | None,
    date_to: date | None,
    *,
    evaluation: Path | None = None,
    roll_days: int | None = None,
) -> dict:
    """The journal replay of a published generation: its build's trade journal and events, the out-of-sample
    forecasts of the newest evaluation of that build (or `evaluation`), costs and equity from settings."""
    build_dir = Path(generation.build_dir)
    progress.step("reading the evaluation's out-of-sample forecasts")
    folder = evaluation_dir(settings, generation, evaluation)
    forecasts, info = load_forecasts(folder)
    events = attach_forecasts(event_frame(build_dir), forecasts)
    progress.step("grouping the journal's lots into positions")
    positions = journal_positions(build_dir)
    progress.step("replaying the campaigns: walk-forward filter, bootstrap intervals")
    result = journal_backtest(
        positions,
        events,
        costs=settings.costs,
        equity=settings.account.equity,
        roll_days=settings.roll_days if roll_days is None else roll_days,
        date_from=date_from,
        date_to=date_to,
    )
    result["forecasts"] = info
    return result

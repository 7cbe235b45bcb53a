"""Backtests of the earnings IV-crush trade with a pluggable forecaster of the |move| distribution.

A *forecaster* is any ``Callable[[train_events, test_events], DataFrame]`` returning, indexed like
`test_events`, the columns q10, q25, q50, q75, q90 of the absolute reaction-day close move in % (non-crossing).
The backtests call it only with events whose outcome was known before the decision they simulate, so any model
plugged in is evaluated walk-forward. Until the LightGBM model is wired in, `scaled_history_forecaster` (the
ticker's own trusted history scaled by ratios learnt on the training events) and `constant_forecaster` serve.

Two engines:

- `journal_backtest`: the trader's real positions held across earnings. For each, the point-in-time
  forecast gives P(|move| > distance to the nearest short strike); a skip threshold on that probability is
  chosen on the positions before a split date and applied, unchanged, to the positions after it.
- `simulate_backtest`: every past event, a short straddle (and a strangle variant) settled at the
  reaction-day close move, walk-forward by quarter; 2.0's VRP rule vs the ML rule on the same events.

Both return a plain dict (tables as DataFrames, every assumption as text in "notes"); `backtest_report`
renders it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ivcrush.constants import DEFAULT_PRESET, QUANTILE_LEVELS, QUANTILE_NAMES, TIER_PRESETS
from ivcrush.training.trading_metrics import DEFAULT_EQUITY, breakdowns, metrics, metrics_frame, sharpe_basis

if TYPE_CHECKING:
    from ivcrush.settings import Settings

Forecaster = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]
QUANTILES = QUANTILE_NAMES
_EXCEED = np.array([1.0, 0.9, 0.75, 0.5, 0.25, 0.1])  # P(|move| > x) at x = 0, q10, ..., q90
VRP_MARGINAL = TIER_PRESETS[DEFAULT_PRESET]["marginal"]  # 2.0's "marginal" tier: implied / mean >= 1.2
SMALL_SAMPLE = 30
MIN_TRAIN_EVENTS = 100
NEW_YORK = "America/New_York"
# A short strike further than this from the event's close means the prices are not comparable (the history
# is split-adjusted, the journal is not: NFLX's January 2025 strikes are ~10x its stored prev_close).
MAX_STRIKE_DISTANCE_PCT = 60.0


# ----------------------------------------------------------------------------------------------------------
# The forecast distribution


def _knots(q: Sequence[float]) -> np.ndarray:
    """0 followed by the quantiles made non-decreasing (a crossing forecast is repaired, not trusted)."""
    return np.maximum.accumulate(np.concatenate([[0.0], np.maximum(np.asarray(q, dtype=float), 0.0)]))


def prob_exceeds(row_quantiles: pd.Series | dict[str, float], x: float) -> float:
    """P(|move| > x) of a forecast given by its quantiles q10..q90 of |move| (in %).

    Between the knots (0, 1), (q10, .9), (q25, .75), (q50, .5), (q75, .25), (q90, .1) the exceedance is
    linear (a piecewise-linear CDF); beyond q90 it decays exponentially, 0.1 * exp(-(x - q90) / s), with
    s = (q90 - q50) / ln 5: the decay rate that takes the exceedance from 0.5 at the median to 0.1 at q90
    continues into the tail. A degenerate forecast (q90 == q50) has no tail beyond q90.
    """
    knots = _knots([row_quantiles[name] for name in QUANTILES])
    if x <= 0:
        return 1.0
    q50, q90 = knots[3], knots[5]
    if x >= q90:
        scale = (q90 - q50) / math.log(5)
        return 0.1 * math.exp(-(x - q90) / scale) if scale > 0 else 0.0
    # np.interp needs strictly increasing knots: of equal knots keep the last (the lower exceedance)
    keep = np.concatenate([knots[1:] > knots[:-1], [True]])
    return float(np.interp(x, knots[keep], _EXCEED[keep]))


def forecast_mean(row_quantiles: pd.Series | dict[str, float]) -> float:
    """E|move| under the `prob_exceeds` distribution: the integral of the exceedance from 0 to infinity."""
    knots = _knots([row_quantiles[name] for name in QUANTILES])
    body = float(np.sum(np.diff(knots) * (_EXCEED[:-1] + _EXCEED[1:]) / 2))
    return body + 0.1 * (knots[5] - knots[3]) / math.log(5)


def _check_forecast(forecast: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
    missing = [q for q in QUANTILES if q not in forecast.columns]
    if missing:
        raise ValueError(f"forecaster returned no column(s) {', '.join(missing)}")
    if not forecast.index.equals(test_events.index):
        forecast = forecast.reindex(test_events.index)
    return forecast[list(QUANTILES)].astype(float)


# ----------------------------------------------------------------------------------------------------------
# Forecasters for development, tests and the CLI until the model is plugged in


def constant_forecaster(quantiles: Sequence[float]) -> Forecaster:
    """The same forecast for every event (plumbing checks)."""

    def forecast(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([list(quantiles)] * len(test_events), index=test_events.index, columns=list(QUANTILES))

    return forecast


def oracle_forecaster(spread: float = 0.0) -> Forecaster:
    """Knows the outcome: every quantile = the realised |move| (x (1 +/- spread)). For plumbing tests only."""

    def forecast(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
        move = test_events["abs_close_move_pct"].astype(float)
        factors = np.linspace(1 - spread, 1 + spread, len(QUANTILES))
        return pd.DataFrame({q: move * f for q, f in zip(QUANTILES, factors, strict=True)}, index=test_events.index)

    return forecast


def scaled_history_forecaster(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
    """A naive baseline trained only on `train_events` (trusted rows where the column says so).

    An event with its own trusted history (`hm_close_mean_12q` > 0) gets that mean x the quantiles of
    |move| / `hm_close_mean_12q` over the training rows; an event without one gets the unconditional
    quantiles of the training moves. 2.0's all-rows mean is not used: for AMC tickers it averages
    announcement-day moves, which would understate the reaction.
    """
    trusted = train_events
    if "label_trusted" in train_events:
        trusted = train_events[train_events["label_trusted"].astype(bool)]
    moves = trusted["abs_close_move_pct"].astype(float)
    probs = list(QUANTILE_LEVELS)
    default = np.array([0.7, 1.6, 3.2, 5.8, 9.5])  # used only with fewer than 20 training moves
    unconditional = moves.quantile(probs).to_numpy() if len(moves) >= 20 else default
    own = trusted["hm_close_mean_12q"].astype(float) if "hm_close_mean_12q" in trusted else pd.Series(dtype=float)
    ratio = (moves / own.where(own > 0)).dropna()
    shape = ratio.quantile(probs).to_numpy() if len(ratio) >= 20 else default / default[2]
    level = test_events.get("hm_close_mean_12q", pd.Series(np.nan, index=test_events.index)).astype(float)
    has_own = (level > 0).to_numpy()
    values = np.where(has_own[:, None], np.outer(level.fillna(0).to_numpy(), shape), unconditional[None, :])
    values = np.maximum.accumulate(values, axis=1)
    return pd.DataFrame(values, index=test_events.index, columns=list(QUANTILES))


# ----------------------------------------------------------------------------------------------------------
# The events dataset


def load_events(settings: Settings, trusted_only: bool = False) -> pd.DataFrame:
    """Feast training set (point-in-time features + labels) with `prev_close` and `decision_spot` added."""
    from ivcrush.training.data import training_set
    from ivcrush.workspace import mart_path

    events = training_set(settings, trusted_only=trusted_only)
    labels = pd.read_parquet(
        mart_path(Path(settings.current_build), "event_labels"), columns=["event_id", "prev_close"]
    )
    return add_decision_spot(events.merge(labels, on="event_id", how="left", validate="many_to_one"))


def add_decision_spot(events: pd.DataFrame) -> pd.DataFrame:
    """`decision_spot`: the close at decision time, the reference for strike distances.

    `prev_close` of a BMO/DMH event is the close before the earnings day, which is the decision day. An AMC
    row that 2.0 stored on the announcement day (untrusted label) has the close before the announcement as
    prev_close; the decision-time close is that day's close = prev_close x (1 + signed move / 100), known at
    the 16:00 decision. A trusted AMC row (database collected on the reaction day) already has it as prev_close.
    """
    out = events.copy()
    out["earnings_date"] = pd.to_datetime(out["earnings_date"])
    spot = out["prev_close"].astype(float)
    announcement_row = out["timing"].eq("AMC") & ~out["label_trusted"].astype(bool)
    moved = spot * (1 + out["signed_close_move_pct"].astype(float) / 100)
    out["decision_spot"] = spot.where(~announcement_row, moved)
    return out


def close_utc(day: pd.Timestamp) -> pd.Timestamp:
    """16:00 New York on `day`, in UTC."""
    return (pd.Timestamp(day).normalize() + pd.Timedelta(hours=16)).tz_localize(NEW_YORK).tz_convert("UTC")


def _known_before(events: pd.DataFrame, moment: pd.Timestamp, trusted_only: bool) -> pd.DataFrame:
    known = events[(events["outcome_known_at"] < moment) & events["abs_close_move_pct"].notna()]
    return known[known["label_trusted"].astype(bool)] if trusted_only else known


def _in_range(dates: pd.Series, date_from: object, date_to: object) -> pd.Series:
    dates = pd.to_datetime(dates)
    keep = pd.Series(True, index=dates.index)
    if date_from is not None:
        keep &= dates >= pd.Timestamp(date_from)
    if date_to is not None:
        keep &= dates <= pd.Timestamp(date_to)
    return keep


# ----------------------------------------------------------------------------------------------------------
# Journal backtest


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

    `positions`: `training.journal` positions with earnings marked. Only positions held across an earnings
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
    in_range = positions[_in_range(positions["entry_date"], date_from, date_to)]
    frame = in_range[in_range["crosses_earnings"].astype(bool)].copy()
    frame["entry_date"] = pd.to_datetime(frame["entry_date"])
    frame["exit_date"] = pd.to_datetime(frame["exit_date"])
    events = events_dataset.copy()
    events["earnings_date"] = pd.to_datetime(events["earnings_date"])
    if "decision_spot" not in events:
        events = add_decision_spot(events)
    lookup = events.set_index(["ticker", "earnings_date"])
    lookup = lookup[~lookup.index.duplicated()]

    for column in ("p_breach", "strike_distance_pct", "decision_spot", *QUANTILES):
        frame[column] = np.nan
    frame["forecast_note"] = ""
    for entry, group in frame.groupby("entry_date"):
        train = _known_before(events, close_utc(entry), train_trusted_only)
        keys = list(zip(group["symbol"], pd.to_datetime(group["earnings_date"]), strict=True))
        present = [k in lookup.index for k in keys]
        usable = group[present & group["short_strikes"].map(lambda s: len(s) > 0).to_numpy()]
        frame.loc[group.index[~np.array(present)], "forecast_note"] = "event not in the dataset"
        frame.loc[group.index[group["short_strikes"].map(len).to_numpy() == 0], "forecast_note"] = "no short strike"
        if usable.empty:
            continue
        test = lookup.loc[list(zip(usable["symbol"], pd.to_datetime(usable["earnings_date"]), strict=True))]
        test = test.reset_index().set_index(usable.index)
        forecast = _check_forecast(forecaster(train, test), test)
        for i in usable.index:
            spot = float(test.at[i, "decision_spot"])
            distance = min(abs(k / spot - 1) * 100 for k in usable.at[i, "short_strikes"])
            frame.loc[i, list(QUANTILES)] = forecast.loc[i].to_numpy()
            frame.loc[i, ["decision_spot", "strike_distance_pct"]] = [spot, distance]
            if distance > MAX_STRIKE_DISTANCE_PCT:
                frame.loc[i, "forecast_note"] = (
                    f"strike {distance:.0f}% from the event's close {spot:.2f}: prices not comparable "
                    "(split-adjusted history?); no probability, always taken"
                )
                continue
            frame.loc[i, "p_breach"] = prob_exceeds(forecast.loc[i], distance)
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


# ----------------------------------------------------------------------------------------------------------
# Simulated backtest


def _market_excess(implied: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """E[(|X| - d)+] for X normal with E|X| = implied (sigma = implied x sqrt(pi/2)): the strangle's price."""
    sigma = implied * math.sqrt(math.pi / 2)
    z = distance / sigma
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    upper_tail = 0.5 * np.vectorize(math.erfc)(z / math.sqrt(2))
    return 2 * (sigma * pdf - distance * upper_tail)


def _implied_label(sources: pd.Series, assumed_text: str) -> str:
    assumed = int((sources == assumed_text).sum())
    if assumed == 0:
        return "market implied move"
    if assumed == len(sources):
        return assumed_text
    return f"{len(sources) - assumed} market, {assumed} {assumed_text}"


def _quarter_folds(events: pd.DataFrame) -> pd.Series:
    return events["event_timestamp"].dt.tz_convert(NEW_YORK).dt.tz_localize(None).dt.to_period("Q")


def simulate_backtest(
    events_dataset: pd.DataFrame,
    forecaster: Forecaster,
    *,
    implied_moves: pd.DataFrame | None = None,
    k: float = 1.0,
    date_from: object = None,
    date_to: object = None,
    folds: str = "quarter",
    ml_threshold: float = 0.35,
    min_train_events: int = MIN_TRAIN_EVENTS,
    train_trusted_only: bool = True,
) -> dict:
    """Sell a straddle (and a strangle) at every past event; 2.0's VRP rule vs the ML rule, walk-forward.

    - Walk-forward (`folds="quarter"`): the events of each calendar quarter (by decision time, New York) are
      forecast by a forecaster trained only on events whose outcome was known before the quarter began
      (expanding window; trusted labels by default). Quarters with fewer than `min_train_events` training
      events are warm-up: not traded.
    - Implied move: `implied_moves` (ticker, earnings_date, implied_move_pct) where given; else ASSUMED =
      k x 2.0's historical mean (`hm_close_mean_12q_all_rows`), and every such row says so.
    - P&L in % of spot, one unit of notional per trade (x spot x 100 for dollars per contract):
      straddle sold at the implied move: implied - |move|. Strangle with both shorts at
      d = max(forecast q90, implied) (outside q90, never inside the implied move), priced as E[(|X| - d)+]
      under the market's normal with E|X| = implied, settled at (|move| - d)+.
    - 2.0 rule: trade when implied / 2.0 mean >= 1.2 (VRP tier marginal or better). ML rule: trade when
      P(|move| > implied) < `ml_threshold` or implied / forecast mean >= 1.2.
    - Settlement on trusted labels; untrusted events (AMC announcement-day moves in 2.0's data) are reported
      separately, because their moves are too small and would make the short-premium P&L falsely rosy.
    """
    if folds != "quarter":
        raise ValueError("only folds='quarter' (expanding walk-forward by calendar quarter) is implemented")
    notes: list[str] = []
    events = events_dataset[events_dataset["abs_close_move_pct"].notna()].copy()
    events["earnings_date"] = pd.to_datetime(events["earnings_date"])
    events = events[_in_range(events["earnings_date"], date_from, date_to)].reset_index(drop=True)
    assumed_text = f"assumed implied move ({k:g} x 2.0 mean)"
    events["implied_move_pct"] = np.nan
    if implied_moves is not None and len(implied_moves):
        given = implied_moves[["ticker", "earnings_date", "implied_move_pct"]].copy()
        given["earnings_date"] = pd.to_datetime(given["earnings_date"])
        given = given.drop_duplicates(["ticker", "earnings_date"], keep="last")
        events = events.drop(columns="implied_move_pct").merge(given, on=["ticker", "earnings_date"], how="left")
    market = events["implied_move_pct"].notna()
    mean_2_0 = events["hm_close_mean_12q_all_rows"].astype(float)
    events["implied_source"] = np.where(market, "market implied move", assumed_text)
    events.loc[~market, "implied_move_pct"] = k * mean_2_0[~market]
    events["vrp_2_0"] = events["implied_move_pct"] / mean_2_0

    # walk-forward forecasts by quarter
    events["fold"] = _quarter_folds(events)
    for q in QUANTILES:
        events[q] = np.nan
    fold_rows = []
    history = events_dataset.assign(earnings_date=pd.to_datetime(events_dataset["earnings_date"]))
    for fold, test in events.groupby("fold", sort=True):
        start = pd.Timestamp(fold.start_time).tz_localize(NEW_YORK).tz_convert("UTC")
        train = _known_before(history, start, train_trusted_only)
        fold_rows.append(
            {
                "fold": str(fold),
                "train_events": len(train),
                "test_events": len(test),
                "traded": len(train) >= min_train_events,
            }
        )
        if len(train) < min_train_events:
            continue
        forecast = _check_forecast(forecaster(train, test), test)
        events.loc[test.index, list(QUANTILES)] = forecast.to_numpy()
    fold_table = pd.DataFrame(fold_rows)
    warm = events[list(QUANTILES)].isna().any(axis=1)
    tradeable = ~warm & events["implied_move_pct"].gt(0)
    if (~tradeable).any():
        notes.append(
            f"{int(warm.sum())} events in warm-up quarters (< {min_train_events} training events) and "
            f"{int((~warm & ~events['implied_move_pct'].gt(0)).sum())} without an implied move are not traded"
        )
    events = events[tradeable].reset_index(drop=True)

    quantiles = events[list(QUANTILES)]
    events["forecast_mean_pct"] = [forecast_mean(row) for _, row in quantiles.iterrows()]
    events["p_exceeds_implied"] = [
        prob_exceeds(row, x) for (_, row), x in zip(quantiles.iterrows(), events["implied_move_pct"], strict=True)
    ]
    events["vrp_ml"] = events["implied_move_pct"] / events["forecast_mean_pct"]
    move = events["abs_close_move_pct"].astype(float)
    implied = events["implied_move_pct"].astype(float)
    events["pnl_straddle_pct"] = implied - move
    distance = np.maximum(events["q90"].astype(float), implied)
    events["strangle_distance_pct"] = distance
    events["strangle_credit_pct"] = _market_excess(implied.to_numpy(), distance.to_numpy())
    events["pnl_strangle_pct"] = events["strangle_credit_pct"] - np.maximum(move - distance, 0.0)
    events["trade_2_0"] = events["vrp_2_0"] >= VRP_MARGINAL
    events["trade_ml"] = (events["p_exceeds_implied"] < ml_threshold) | (events["vrp_ml"] >= VRP_MARGINAL)
    events["entry_date"] = events["event_timestamp"].dt.tz_convert(NEW_YORK).dt.tz_localize(None).dt.normalize()
    events["exit_date"] = pd.to_datetime(events["reaction_date"])

    def tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        out = {}
        for structure in ("straddle", "strangle"):
            rows = {}
            for rule, mask in (
                ("take all", None),
                ("2.0 rule (VRP >= 1.2)", "trade_2_0"),
                (f"ML rule (P(>implied) < {ml_threshold:g} or VRP_ml >= 1.2)", "trade_ml"),
            ):
                chosen = frame if mask is None else frame[frame[mask]]
                rows[rule] = metrics_frame(chosen, pnl=f"pnl_{structure}_pct", equity=100.0).iloc[0].copy()
                rows[rule]["implied_move"] = _implied_label(chosen["implied_source"], assumed_text)
            out[structure] = pd.DataFrame(rows).T.drop(columns=["ann_return_pct", "ann_vol_pct"])
        return out

    trusted = events["label_trusted"].astype(bool)
    assumed = (events["implied_source"] != "market implied move").sum()
    if assumed:
        notes.append(f"{assumed} of {len(events)} events use an {assumed_text}: no market price was given for them")
        notes.append(
            f"with the {assumed_text} the 2.0 rule's VRP is exactly {k:g} on those events, so it takes "
            f"{'all' if k >= VRP_MARGINAL else 'none'} of them: the baseline comparison needs market "
            "implied moves to mean anything"
        )
    notes.append(
        "P&L in % of spot per trade (one unit of notional; x spot x 100 = dollars per contract); "
        "Sharpe on daily sums of that P&L, mean/std x sqrt(252)"
    )
    notes.append(
        "untrusted labels (AMC moves stored on the announcement day, UNKNOWN timing) are reported "
        "separately: their moves are too small, so short-premium P&L on them is falsely rosy"
    )
    if trusted.sum() < SMALL_SAMPLE:
        notes.append(f"only {int(trusted.sum())} trusted events: too few for conclusions")
    return {
        "kind": "simulate",
        "k": k,
        "ml_threshold": ml_threshold,
        "implied_note": assumed_text if assumed else "market implied moves",
        "trusted": tables(events[trusted]),
        "untrusted": tables(events[~trusted]),
        "folds": fold_table,
        "events": events,
        "notes": notes,
    }


def lightgbm_forecaster(num_boost_round: int = 150) -> Forecaster:
    """The product's move-size model as a backtest forecaster: trained on `train_events` only."""
    from ivcrush.training.predict import predict_frame
    from ivcrush.training.train import QUANTILE_NAMES, TrainingError, train_models

    def forecast(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
        try:
            models = train_models(train_events, num_boost_round=num_boost_round)
        except TrainingError:  # too few earlier outcomes: the naive baseline speaks instead
            return scaled_history_forecaster(train_events, test_events)
        return predict_frame(models, test_events)[list(QUANTILE_NAMES)]

    return forecast

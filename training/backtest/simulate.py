"""Simulated backtest: a short straddle (and a strangle variant) at every past event, settled at the
reaction-day close move, walk-forward by quarter; 2.0's VRP rule vs the ML rule on the same events.

Returns a plain dict (tables as DataFrames, every assumption as text in "notes"); `training.backtest.report`
renders it.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ivcrush.constants import DEFAULT_PRESET, QUANTILE_NAMES, TIER_PRESETS
from ivcrush.errors import IvcrushError
from ivcrush.settings import Settings
from ivcrush.training.backtest.events import NEW_YORK, in_date_range, known_before, load_events
from ivcrush.training.backtest.forecasters import TAIL_COLUMNS, Forecaster, check_forecast, lightgbm_forecaster
from ivcrush.training.backtest.metrics import SMALL_SAMPLE, metrics_frame
from ivcrush.training.distribution import MoveDistribution
from ivcrush.workspace import Generation

VRP_MARGINAL = TIER_PRESETS[DEFAULT_PRESET]["marginal"]  # 2.0's "marginal" tier: implied / mean >= 1.2
MIN_TRAIN_EVENTS = 100
MAX_K = 10.0  # an assumed implied move above 10 x 2.0's mean is no assumption anyone trades on


class SimulationError(IvcrushError):
    """The simulated backtest's arguments cannot describe a backtest; the message says which and why."""


def check_arguments(k: float, date_from: date | None, date_to: date | None) -> None:
    """Refuse, before any work, a k outside (0, MAX_K] and a date range that ends before it starts."""
    if not math.isfinite(k) or not 0 < k <= MAX_K:
        raise SimulationError(f"--k {k:g}: the assumed implied move is k x 2.0's mean, k in (0, {MAX_K:g}]")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise SimulationError(f"--from {date_from} is after --to {date_to}")


def read_implied_moves(path: Path) -> pd.DataFrame:
    """ticker, earnings_date, implied_move_pct from a CSV; SimulationError naming what is wrong."""
    columns = ["ticker", "earnings_date", "implied_move_pct"]
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SimulationError(f"{path}: cannot be read as CSV ({exc})") from exc
    if not set(columns) <= set(frame.columns):
        raise SimulationError(f"{path}: needs the columns {', '.join(columns)}; has {list(frame.columns)}")
    dates = pd.to_datetime(frame["earnings_date"], format="%Y-%m-%d", errors="coerce")
    implied = pd.to_numeric(frame["implied_move_pct"], errors="coerce")
    bad = dates.isna() | ~np.isfinite(implied) | ~implied.gt(0) | frame["ticker"].isna()
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise SimulationError(
            f"{path}, line {line}: needs a ticker, a YYYY-MM-DD earnings_date and an implied_move_pct > 0"
        )
    return pd.DataFrame({"ticker": frame["ticker"].astype(str), "earnings_date": dates, "implied_move_pct": implied})


def _market_excess(implied: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """E[(|X| - d)+] for X normal with E|X| = implied (sigma = implied x sqrt(pi/2)): the strangle's price."""
    sigma = implied * math.sqrt(math.pi / 2)
    z = distance / sigma
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    upper_tail = 0.5 * np.vectorize(math.erfc, otypes=[float])(z / math.sqrt(2))
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
    - Implied move: `implied_moves` (ticker, earnings_date, implied_move_pct) where given, else the market
      store's quoted straddle before the decision (`opt_quote_implied_move_pct`); else ASSUMED =
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
    events = events[in_date_range(events["earnings_date"], date_from, date_to)].reset_index(drop=True)
    assumed_text = f"assumed implied move ({k:g} x 2.0 mean)"
    events["implied_move_pct"] = np.nan
    if implied_moves is not None and len(implied_moves):
        given = implied_moves[["ticker", "earnings_date", "implied_move_pct"]].copy()
        given["earnings_date"] = pd.to_datetime(given["earnings_date"])
        given = given.drop_duplicates(["ticker", "earnings_date"], keep="last")
        events = events.drop(columns="implied_move_pct").merge(given, on=["ticker", "earnings_date"], how="left")
    if "opt_quote_implied_move_pct" in events.columns:
        events["implied_move_pct"] = events["implied_move_pct"].fillna(events["opt_quote_implied_move_pct"])
    market = events["implied_move_pct"].notna()
    mean_2_0 = events["hm_close_mean_12q_all_rows"].astype(float)
    events["implied_source"] = np.where(market, "market implied move", assumed_text)
    events.loc[~market, "implied_move_pct"] = k * mean_2_0[~market]
    events["vrp_2_0"] = events["implied_move_pct"] / mean_2_0

    # walk-forward forecasts by quarter
    events["fold"] = _quarter_folds(events)
    for column in (*QUANTILE_NAMES, *TAIL_COLUMNS):
        events[column] = np.nan
    fold_rows = []
    history = events_dataset.assign(earnings_date=pd.to_datetime(events_dataset["earnings_date"]))
    for fold, test in events.groupby("fold", sort=True):
        start = pd.Timestamp(fold.start_time).tz_localize(NEW_YORK).tz_convert("UTC")
        train = known_before(history, start, train_trusted_only)
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
        forecast = check_forecast(forecaster(train, test), test)
        events.loc[test.index, forecast.columns] = forecast.to_numpy()
    fold_table = pd.DataFrame(fold_rows)
    warm = events[list(QUANTILE_NAMES)].isna().any(axis=1)
    tradeable = ~warm & events["implied_move_pct"].gt(0)
    if (~tradeable).any():
        notes.append(
            f"{int(warm.sum())} events in warm-up quarters (< {min_train_events} training events) and "
            f"{int((~warm & ~events['implied_move_pct'].gt(0)).sum())} without an implied move are not traded"
        )
    events = events[tradeable].reset_index(drop=True)

    distribution = MoveDistribution.from_frame(events)
    events["forecast_mean_pct"] = distribution.mean()
    events["p_exceeds_implied"] = distribution.sf(events["implied_move_pct"].to_numpy(dtype="float64"))
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


def run_simulation(
    settings: Settings,
    generation: Generation,
    implied_moves: Path | None,
    k: float,
    date_from: date | None,
    date_to: date | None,
) -> dict:
    """The simulated backtest of a published generation's events with the LightGBM forecaster; market implied
    moves from the CSV `implied_moves` (ticker, earnings_date, implied_move_pct) where given."""
    check_arguments(k, date_from, date_to)
    implied = read_implied_moves(implied_moves) if implied_moves else None
    return simulate_backtest(
        load_events(settings, generation),
        lightgbm_forecaster(),
        implied_moves=implied,
        k=k,
        date_from=date_from,
        date_to=date_to,
    )

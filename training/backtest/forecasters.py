"""Forecasters of the |move| distribution for the backtests.

A *forecaster* is any ``Callable[[train_events, test_events], DataFrame]`` returning, indexed like
`test_events`, the columns q10, q25, q50, q75, q90 of the absolute reaction-day close move in % (non-crossing).
The backtests call it only with events whose outcome was known before the decision they simulate, so any model
plugged in is evaluated walk-forward: `lightgbm_forecaster` (the product's move-size model),
`scaled_history_forecaster` (the ticker's own trusted history scaled by ratios learnt on the training events),
and `constant_forecaster` / `oracle_forecaster` for plumbing checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES

Forecaster = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]


def constant_forecaster(quantiles: Sequence[float]) -> Forecaster:
    """The same forecast for every event (plumbing checks)."""

    def forecast(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([list(quantiles)] * len(test_events), index=test_events.index, columns=list(QUANTILE_NAMES))

    return forecast


def oracle_forecaster(spread: float = 0.0) -> Forecaster:
    """Knows the outcome: every quantile = the realised |move| (x (1 +/- spread)). For plumbing tests only."""

    def forecast(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
        move = test_events["abs_close_move_pct"].astype(float)
        factors = np.linspace(1 - spread, 1 + spread, len(QUANTILE_NAMES))
        return pd.DataFrame(
            {q: move * f for q, f in zip(QUANTILE_NAMES, factors, strict=True)}, index=test_events.index
        )

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
    return pd.DataFrame(values, index=test_events.index, columns=list(QUANTILE_NAMES))


def lightgbm_forecaster(num_boost_round: int = 150) -> Forecaster:
    """The product's move-size model as a backtest forecaster: trained on `train_events` only."""
    from ivcrush.training.predict import predict_frame
    from ivcrush.training.train import TrainingError, train_models

    def forecast(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
        try:
            models = train_models(train_events, num_boost_round=num_boost_round)
        except TrainingError:  # too few earlier outcomes: the naive baseline speaks instead
            return scaled_history_forecaster(train_events, test_events)
        return predict_frame(models, test_events)[list(QUANTILE_NAMES)]

    return forecast


def check_forecast(forecast: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
    """The forecast's quantile columns, indexed like `test_events`; a ValueError where a column is missing."""
    missing = [q for q in QUANTILE_NAMES if q not in forecast.columns]
    if missing:
        raise ValueError(f"forecaster returned no column(s) {', '.join(missing)}")
    if not forecast.index.equals(test_events.index):
        forecast = forecast.reindex(test_events.index)
    return forecast[list(QUANTILE_NAMES)].astype(float)

"""Forecasters of the |move| distribution for the backtests.

A *forecaster* is any ``Callable[[train_events, test_events], DataFrame]`` returning, indexed like
`test_events`, the columns q10, q25, q50, q75, q90 of the absolute reaction-day close move in % (non-crossing)
and, where it fits one, its generalized Pareto tail (`tail_shape`, `tail_scale`; else the default tail): the
parameters of the `MoveDistribution` (training.distribution) the backtests trade on, the same object serving
decides on. The backtests call it only with events whose outcome was known before the decision they simulate,
so any model plugged in is evaluated walk-forward: `lightgbm_forecaster` (the product's calibrated move-size
model), `scaled_history_forecaster` (training.reference: the ticker's own trusted history scaled by ratios
learnt on the training events, with its fitted tail), and `constant_forecaster` / `oracle_forecaster` for
plumbing checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.distribution import DEFAULT_TAIL_SCALE, DEFAULT_TAIL_SHAPE
from ivcrush.training.reference import ScaledHistory

Forecaster = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]
TAIL_COLUMNS = ("tail_shape", "tail_scale")


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
    """A naive baseline trained only on `train_events` (trusted rows where the column says so): the trusted
    scaled-history reference (`training.reference.ScaledHistory`) with its fitted tail. 2.0's all-rows mean is
    not used: for AMC tickers it averages announcement-day moves, which would understate the reaction."""
    distribution = ScaledHistory.fit(train_events).distribution(test_events)
    out = pd.DataFrame(distribution.quantiles, index=test_events.index, columns=list(QUANTILE_NAMES))
    out["tail_shape"], out["tail_scale"] = distribution.tail_shape, distribution.tail_scale
    return out


def lightgbm_forecaster(num_boost_round: int = 150) -> Forecaster:
    """The product's move-size model as a backtest forecaster: trained (and calibrated) on `train_events` only;
    its calibrated quantiles and tail."""
    from ivcrush.training.predict import predict_frame
    from ivcrush.training.train import TrainingError, train_models

    def forecast(train_events: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
        try:
            models = train_models(train_events, num_boost_round=num_boost_round)
        except TrainingError:  # too few earlier outcomes: the naive baseline speaks instead
            return scaled_history_forecaster(train_events, test_events)
        return predict_frame(models, test_events)[[*QUANTILE_NAMES, *TAIL_COLUMNS]]

    return forecast


def check_forecast(forecast: pd.DataFrame, test_events: pd.DataFrame) -> pd.DataFrame:
    """The forecast's quantile and tail columns (the default tail where it gives none), indexed like
    `test_events`; a ValueError where a quantile column is missing."""
    missing = [q for q in QUANTILE_NAMES if q not in forecast.columns]
    if missing:
        raise ValueError(f"forecaster returned no column(s) {', '.join(missing)}")
    if not forecast.index.equals(test_events.index):
        forecast = forecast.reindex(test_events.index)
    out = forecast[list(QUANTILE_NAMES)].astype(float)
    out["tail_shape"] = forecast["tail_shape"].astype(float) if "tail_shape" in forecast else DEFAULT_TAIL_SHAPE
    out["tail_scale"] = forecast["tail_scale"].astype(float) if "tail_scale" in forecast else DEFAULT_TAIL_SCALE
    return out

"""What serving answers with: one event's forecast (`Forecast`, the `MoveDistribution`'s parameters and
qualifiers), its `Recommendation` or `Refusal`, and the options of a request (`RecommendOptions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TypedDict

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.serving.decision import Decision
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution


class _ForecastFields(TypedDict):
    ticker: str | None
    basis: str
    point: float
    tail_shape: float
    tail_scale: float
    p_up: float | None
    iv_crush_ratio: float | None
    confidence: float
    move_size_skill: bool
    prior_trusted_moves: int
    history_stratum: str
    thin_history: bool


class ModelForecast(_ForecastFields):
    """One event's forecast as `ivcrush.training.predict.ensemble` returns it (quantiles by level)."""

    quantiles: dict[float, float]


class Forecast(_ForecastFields):
    """One event's forecast as a recommendation carries it: the `MoveDistribution` parameters (quantiles keyed
    by their level as text, for JSON; `tail_shape`, `tail_scale`), its mean |move| (what 2.0 compares an
    implied move with), its basis and qualifiers."""

    quantiles: dict[str, float]
    mean: float
    market_features_stale: bool


@dataclass
class Recommendation:
    """One event's forecast, decision and the notes that qualify them."""

    ticker: str
    event_id: str
    earnings_date: str
    timing: str
    implied_source: str
    spot_source: str
    basis: str
    forecast: Forecast
    decision: Decision
    distribution: MoveDistribution = field(repr=False, compare=False)  # the forecast's one-event distribution
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "ticker": self.ticker,
            "event_id": self.event_id,
            "earnings_date": self.earnings_date,
            "timing": self.timing,
            "implied_source": self.implied_source,
            "spot_source": self.spot_source,
            "basis": self.basis,
            "forecast": self.forecast,
            "decision": self.decision.to_dict(),
            "notes": self.notes,
        }


@dataclass
class Refusal:
    ticker: str
    reason: str


class RecommendOptions(TypedDict, total=False):
    """The options of `recommend` that `scan` and `predict_one` pass through."""

    implied: pd.DataFrame | None
    quotes: pd.DataFrame | None
    account: Account | None
    costs: Costs | None
    preset: str
    strike_quantile: float


_BY_LEVEL = itemgetter(*QUANTILE_LEVELS)  # a forecast's quantiles in the levels' order (a tuple: several levels)


def forecast_distribution(forecast: ModelForecast) -> MoveDistribution:
    """The one-event `MoveDistribution` a forecast's parameters describe."""
    quantiles = [forecast["quantiles"][level] for level in QUANTILE_LEVELS]
    return MoveDistribution(quantiles, forecast["tail_shape"], forecast["tail_scale"])


def forecast_distributions(forecasts: Sequence[ModelForecast]) -> MoveDistribution:
    """The n-event `MoveDistribution` of n forecasts (event i: exactly `forecast_distribution(forecasts[i])`)."""
    quantiles = np.array([_BY_LEVEL(f["quantiles"]) for f in forecasts], dtype="float64")
    shapes = np.array([f["tail_shape"] for f in forecasts], dtype="float64")
    scales = np.array([f["tail_scale"] for f in forecasts], dtype="float64")
    return MoveDistribution(quantiles.reshape(-1, len(QUANTILE_LEVELS)), shapes, scales)

"""Predictions and recommendations for upcoming earnings events: online features (Feast, the model's
feature service) -> registered models -> strategy. Imports neither dbt nor Great Expectations.

Each request (`scan`, `predict_one`) resolves the published generation once and reads everything from it
(its build's calendar, its online store); the checks compare that same generation with the model and the
latest build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, TypedDict, Unpack, cast

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.serving.decision import Decision
from ivcrush.serving.market import StrategyError, event_market
from ivcrush.serving.online import ServingError, calendar_events, events_on, online_features
from ivcrush.serving.strategy import decide
from ivcrush.settings import Account, Costs, Settings
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.reference import half_normal_quantiles
from ivcrush.workspace import Generation, current_build, published

if TYPE_CHECKING:
    from ivcrush.training.registry import LoadedModel


class _ForecastFields(TypedDict):
    ticker: str | None
    point: float
    p_up: float | None
    iv_crush_ratio: float | None
    confidence: float
    move_size_skill: bool


class ModelForecast(_ForecastFields):
    """One event's forecast as `ivcrush.training.predict.ensemble` returns it (quantiles by level)."""

    quantiles: dict[float, float]


class Forecast(_ForecastFields):
    """One event's forecast as a recommendation carries it: quantiles keyed by their level as text (JSON) and
    the mean |move| of the model's distribution (what 2.0 compares an implied move with)."""

    quantiles: dict[str, float]
    mean: float


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


def model_distribution(quantiles: dict[float, float]) -> MoveDistribution:
    """One event's forecast distribution from its five quantiles, with the default tail."""
    return MoveDistribution(np.array([[quantiles[q] for q in QUANTILE_LEVELS]]))


def _number(value: object) -> float | None:
    number = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(number) else float(number)


def check_serving_state(settings: Settings, generation: Generation) -> LoadedModel:
    """The generation must come from the latest build and serve the model's feature service; else refuse.

    The latest build's manifest is read only to compare its id: nothing is served from it.
    """
    from ivcrush.training.registry import RegistryError, load_latest

    latest = current_build(settings)
    if latest is None or generation.build_id != latest.build_id:
        raise ServingError(
            f"the online store was built from build {generation.build_id}, older than the latest build "
            f"{latest.build_id if latest else '(none)'}; run `ivcrush materialize`"
        )
    try:
        model = load_latest(settings.workdir)
    except RegistryError as exc:
        raise ServingError(f"{exc}; run `ivcrush train`") from exc
    service = model.metadata.get("feature_service")
    service = service.get("name") if isinstance(service, dict) else service
    if service != generation.feature_service:
        raise ServingError(
            f"the model {model.model_id} was trained with feature service {service}, the online store serves "
            f"{generation.feature_service}; retrain (`ivcrush train`) or re-materialize"
        )
    return model


def recommend(
    settings: Settings,
    generation: Generation,
    events: pd.DataFrame,
    *,
    implied: pd.DataFrame | None = None,
    quotes: pd.DataFrame | None = None,
    account: Account | None = None,
    costs: Costs | None = None,
    preset: str = "balanced",
    strike_quantile: float = 0.9,
) -> tuple[list[Recommendation], list[Refusal]]:
    """Forecast, decision and size for each event of `generation`'s build; events that cannot be served are
    refused with a reason."""
    from ivcrush.training.predict import ensemble

    account = account or Account()
    costs = costs or Costs()
    dates = events.set_index("event_id")[["decision_date", "reaction_date"]]
    model = check_serving_state(settings, generation)
    features = online_features(settings, generation, events)
    # ensemble's declared type is a plain dict per event; ModelForecast spells out what it holds
    predictions = cast(list[ModelForecast], ensemble(model, features, model.verdicts))
    given = {} if implied is None else implied.set_index("ticker").to_dict("index")
    move_skill = bool(model.verdicts.get("move_size", {}).get("skill", False))
    recommendations, refusals = [], []
    for (_, row), prediction in zip(features.iterrows(), predictions, strict=True):
        ticker = row["ticker"]
        notes: list[str] = []
        override = given.get(ticker, {})
        chain = None if quotes is None else quotes[quotes["ticker"] == ticker]
        event_dates = dates.loc[row["event_id"]]
        try:
            market = event_market(
                row,
                override,
                chain,
                decision_date=pd.Timestamp(event_dates["decision_date"]).date(),
                reaction_date=pd.Timestamp(event_dates["reaction_date"]).date(),
            )
        except StrategyError as exc:
            refusals.append(Refusal(ticker, str(exc)))
            continue
        hist_mean = _number(row.get("hm_close_mean_12q_all_rows"))
        forecast_distribution = model_distribution(prediction["quantiles"])
        if move_skill:
            distribution, basis = forecast_distribution, "ml"
        elif hist_mean:
            distribution = MoveDistribution(half_normal_quantiles(np.array([hist_mean])))
            basis = "2.0 mean"
            notes.append(
                "the move-size model did not beat the 2.0 baseline walk-forward: decisions use 2.0's mean "
                "(as a half-normal); the model's quantiles are shown for information only"
            )
        else:
            refusals.append(Refusal(ticker, "no move-size skill and no 2.0 history to fall back on"))
            continue
        if prediction["p_up"] is None:
            notes.append("direction not used: the direction model has no walk-forward skill")
        notes.extend(market.notes)
        decision = decide(
            distribution,
            market=market,
            prob_up=prediction["p_up"],
            account=account,
            costs=costs,
            hist_mean_2_0_pct=hist_mean,
            preset=preset,
            strike_quantile=strike_quantile,
        )
        if not row.get("hm_prior_events"):
            notes.append("no trusted earnings history for this ticker: the forecast leans on market-wide features")
        recommendations.append(
            Recommendation(
                ticker=ticker,
                event_id=row["event_id"],
                earnings_date=pd.Timestamp(row["earnings_date"]).date().isoformat(),
                timing=row["timing"],
                implied_source=market.implied_source,
                spot_source=market.spot_source,
                basis=basis,
                forecast={
                    **prediction,
                    "quantiles": {str(k): v for k, v in prediction["quantiles"].items()},
                    "mean": float(forecast_distribution.mean()),
                },
                decision=decision,
                notes=notes,
            )
        )
    recommendations.sort(key=lambda r: (r.decision.contracts == 0, -r.decision.ev_per_risk))
    return recommendations, refusals


def scan(
    settings: Settings, earnings_date: date, **options: Unpack[RecommendOptions]
) -> tuple[list[Recommendation], list[Refusal]]:
    """Every calendar event on `earnings_date`, ranked (sized positions first, then by EV per unit of risk)."""
    generation = published(settings)
    return recommend(settings, generation, events_on(generation, earnings_date), **options)


def predict_one(
    settings: Settings, ticker: str, earnings_date: date | None, **options: Unpack[RecommendOptions]
) -> Recommendation:
    """The recommendation for one ticker's event (its next event on the calendar if no date is given)."""
    generation = published(settings)
    events = calendar_events(generation)
    mine = events[events["ticker"] == ticker]
    if mine.empty:
        raise ServingError(f"unknown ticker {ticker}: not in the calendar or the stored moves")
    dates = pd.to_datetime(mine["earnings_date"]).dt.date
    if earnings_date is None:
        as_of = date.fromisoformat(generation.as_of)
        upcoming = mine[(dates >= as_of) & ~mine["has_outcome"]]
        if upcoming.empty:
            raise ServingError(f"no upcoming calendar event for {ticker} after {as_of}")
        chosen = upcoming.sort_values("earnings_date").head(1)
    else:
        chosen = mine[dates == earnings_date]
        if chosen.empty:
            raise ServingError(f"no calendar event for {ticker} on {earnings_date}")
    recommendations, refusals = recommend(settings, generation, chosen.reset_index(drop=True), **options)
    if refusals:
        raise ServingError(f"{ticker}: {refusals[0].reason}")
    return recommendations[0]

"""Predictions and recommendations for upcoming earnings events: online features (Feast, the model's
feature service) -> registered models -> one calibrated `MoveDistribution` per event -> strategy. Imports
neither dbt nor Great Expectations.

The distribution is the model's only where its pinball gate held walk-forward, else the trusted
scaled-history one (calibrated), never 2.0's all-rows mean. Every forecast says what qualifies it: thin
history (0-2 prior trusted moves: widened by that stratum's calibration, or refused with `thin_history =
"refuse"`), an AMC event (not validated on AMC reactions while their labels sit on the announcement day;
widened like thin history), stale market features (the newest stored outcome more than `stale_market_days`
before the decision).

Each request (`scan`, `predict_one`) resolves the published generation once and reads everything from it
(its build's calendar, its online store); the checks compare that same generation with the model and the
latest build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, TypedDict, Unpack, cast

import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.serving.decision import Decision
from ivcrush.serving.market import StrategyError, event_market
from ivcrush.serving.online import ServingError, calendar_events, events_on, newest_outcome, online_features
from ivcrush.serving.strategy import decide
from ivcrush.settings import Account, Costs, Settings
from ivcrush.training.distribution import MoveDistribution
from ivcrush.workspace import Generation, current_build, published

if TYPE_CHECKING:
    from ivcrush.training.registry import LoadedModel


AMC_NOTE = (
    "AMC event: this forecast is NOT validated on AMC reactions (2.0 stores after-close moves on the announcement "
    "day, so the walk-forward evaluation has no AMC reaction to score); its intervals are widened like thin history"
)


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


def forecast_distribution(forecast: ModelForecast) -> MoveDistribution:
    """The one-event `MoveDistribution` a forecast's parameters describe."""
    quantiles = [forecast["quantiles"][level] for level in QUANTILE_LEVELS]
    return MoveDistribution(quantiles, forecast["tail_shape"], forecast["tail_scale"])


def _stale_days(decided_at: object, newest: pd.Timestamp | None) -> float | None:
    """Days from the newest stored outcome to the decision (None where either is unknown)."""
    if newest is None or pd.isna(decided_at):
        return None
    return (pd.Timestamp(decided_at) - newest).total_seconds() / 86_400


def _qualifiers(
    settings: Settings, row: pd.Series, prediction: ModelForecast, stale_days: float | None
) -> tuple[list[str], str | None]:
    """The notes that qualify one event's forecast, and the reason to refuse it (None: serve it)."""
    notes: list[str] = []
    prior, stratum = prediction["prior_trusted_moves"], prediction["history_stratum"]
    if prediction["thin_history"]:
        if settings.thin_history == "refuse":
            return notes, (
                f'thin history: {prior} prior trusted move(s) (0-2); not served with thin_history = "refuse" '
                '(set it to "widen" to serve it with widened intervals)'
            )
        notes.append(
            f"thin history: {prior} prior trusted move(s); the intervals are widened by the {stratum} stratum's "
            "out-of-fold calibration"
        )
    if settings.amc_labels_untrusted and str(row.get("timing")) == "AMC":
        notes.append(AMC_NOTE)
    if prediction["basis"] != "model":
        notes.append(
            "the move-size model has no pinball skill walk-forward: decisions use the trusted scaled-history "
            "distribution (calibrated), not the model's quantiles"
        )
    if stale_days is not None and stale_days > settings.stale_market_days:
        notes.append(
            f"market features STALE: the newest stored outcome is {stale_days:.0f} days before the decision "
            f"(more than {settings.stale_market_days}); the market-regime features describe the market as of then"
        )
    if prediction["p_up"] is None:
        notes.append("direction not used: the direction model has no walk-forward skill")
    return notes, None


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
    predictions = cast(
        list[ModelForecast],
        ensemble(model, features, model.verdicts, amc_labels_untrusted=settings.amc_labels_untrusted),
    )
    given = {} if implied is None else implied.set_index("ticker").to_dict("index")
    newest = newest_outcome(generation)
    recommendations, refusals = [], []
    for (_, row), prediction in zip(features.iterrows(), predictions, strict=True):
        ticker = row["ticker"]
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
        stale_days = _stale_days(row.get("event_timestamp"), newest)
        notes, refusal = _qualifiers(settings, row, prediction, stale_days)
        if refusal is not None:
            refusals.append(Refusal(ticker, refusal))
            continue
        notes.extend(market.notes)
        distribution = forecast_distribution(prediction)
        hist_mean = _number(row.get("hm_close_mean_12q_all_rows"))
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
        recommendations.append(
            Recommendation(
                ticker=ticker,
                event_id=row["event_id"],
                earnings_date=pd.Timestamp(row["earnings_date"]).date().isoformat(),
                timing=row["timing"],
                implied_source=market.implied_source,
                spot_source=market.spot_source,
                basis=prediction["basis"],
                forecast={
                    **prediction,
                    "quantiles": {str(k): v for k, v in prediction["quantiles"].items()},
                    "mean": float(distribution.mean()),
                    "market_features_stale": stale_days is not None and stale_days > settings.stale_market_days,
                },
                decision=decision,
                distribution=distribution,
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

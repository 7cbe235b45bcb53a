"""Predictions and recommendations for upcoming earnings events: online features (Feast, the model's
feature service) -> registered models -> one calibrated `MoveDistribution` per event -> strategy. Imports
neither dbt nor Great Expectations.

The distribution is the model's only where its pinball gate held walk-forward, else the trusted
scaled-history one (calibrated), never 2.0's all-rows mean. Every forecast says what qualifies it: thin
history (0-2 prior trusted moves: widened by that stratum's calibration, or refused with `thin_history =
"refuse"`), an AMC event (not validated on AMC reactions while their labels sit on the announcement day;
widened like thin history), stale market features (the newest stored outcome more than `stale_market_days`
before the decision).

Each request is answered from one `ServingState` (`load_state`): the published generation resolved once, its
build's calendar, its online store and the registered model, checked against that same generation and the
latest build. `scan` and `predict_one` load one for their request; `ivcrush.serving.predictor.Predictor`
keeps one between requests until something newer is published.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Unpack, cast

import numpy as np
import pandas as pd

from ivcrush.events import merged_notes
from ivcrush.serving.market import MarketInputs, StrategyError, event_market, number_or_none
from ivcrush.serving.model import serving_model
from ivcrush.serving.online import (
    NotServableError,
    OnlineReader,
    ServingError,
    UnknownEventError,
    calendar_events,
    newest_outcome,
)
from ivcrush.serving.recommendation import (
    ModelForecast,
    Recommendation,
    RecommendOptions,
    Refusal,
    forecast_distributions,
)
from ivcrush.serving.strategy_batch import decide_many
from ivcrush.settings import Account, Costs, Settings
from ivcrush.workspace import Generation, current_build, generation_build, published

if TYPE_CHECKING:
    from ivcrush.training.registry import LoadedModel


AMC_NOTE = (
    "AMC event: this forecast is NOT validated on AMC reactions (2.0 stores after-close moves on the announcement "
    "day, so the walk-forward evaluation has no AMC reaction to score); its intervals are widened like thin history"
)


def _stale_days(decided_at: object, newest: pd.Timestamp | None) -> float | None:
    """Days from the newest stored outcome to the decision (None where either is unknown)."""
    if newest is None or pd.isna(decided_at):
        return None
    return (pd.Timestamp(decided_at) - newest).total_seconds() / 86_400


def _qualifiers(
    settings: Settings, row: Mapping[str, object], prediction: ModelForecast, stale_days: float | None
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


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The frame's rows as dicts of plain values, as `to_dict("records")` gives them, from one object array
    (`to_dict` reads a wide frame column by column)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True)) for values in frame.to_numpy(dtype=object).tolist()]


def check_serving_state(settings: Settings, generation: Generation) -> LoadedModel:
    """The generation must come from the latest build and serve the model's feature service; else refuse.

    The latest build's manifest is read only to compare its id: nothing is served from it.
    """
    from ivcrush.training.registry import RegistryError, load_latest

    latest = current_build(settings)
    if latest is None or generation.build_id != latest.build_id:
        raise NotServableError(
            f"the online store was built from build {generation.build_id}, older than the latest build "
            f"{latest.build_id if latest else '(none)'}; run `ivcrush materialize`"
        )
    try:
        model = load_latest(settings.workdir)
    except RegistryError as exc:
        raise NotServableError(f"{exc}; run `ivcrush train`") from exc
    service = model.metadata.get("feature_service")
    service = service.get("name") if isinstance(service, dict) else service
    if service != generation.feature_service:
        raise NotServableError(
            f"the model {model.model_id} was trained with feature service {service}, the online store serves "
            f"{generation.feature_service}; retrain (`ivcrush train`) or re-materialize"
        )
    return model


@dataclass(frozen=True)
class ServingState:
    """Everything a request is served from, read once: the published generation, its build's calendar (indexed
    by day and by ticker), the newest stored outcome, the registered model (or why it cannot serve: `refusal`) and
    the generation's online store. Immutable: a newer publication makes a new state, never changes this one."""

    settings: Settings
    generation: Generation
    events: pd.DataFrame
    days: np.ndarray  # each event's earnings date (a date)
    by_day: dict[date, np.ndarray]  # the rows of `events` of each earnings date
    by_ticker: dict[str, np.ndarray]  # ... and of each ticker
    newest: pd.Timestamp | None
    model: LoadedModel | None
    refusal: NotServableError | None
    _reader: list[OnlineReader] = field(default_factory=list, repr=False, compare=False)
    _reader_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _merged: dict[date, list[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def model_id(self) -> str | None:
        return self.model.model_id if self.model is not None else None

    def serving_model(self) -> LoadedModel:
        """The model, or the ServingError that says why none can serve this generation."""
        if self.model is None:  # a new error each time: one raised again would grow its traceback
            raise NotServableError(str(self.refusal or "no model; run `ivcrush train`"))
        return self.model

    def reader(self) -> OnlineReader:
        """The generation's online-store reader, opened on first use (importing Feast costs seconds)."""
        with self._reader_lock:
            if not self._reader:
                self._reader.append(OnlineReader(self.settings, self.generation))
            return self._reader[0]

    def merged_notes(self, day: date) -> list[str]:
        """The calendar rows dated `day` that the generation's build merged into events of other dates
        (`events.merged_notes`), read once per day: a build never changes."""
        notes = self._merged.get(day)
        if notes is None:
            notes = self._merged[day] = merged_notes(generation_build(self.generation), day)
        return notes


def load_state(settings: Settings) -> ServingState:
    """Resolve the published generation once and read what serving needs from it."""
    generation = published(settings)
    events = calendar_events(generation)
    days = pd.to_datetime(events["earnings_date"]).dt.date
    by_day, by_ticker = events.groupby(days).indices, events.groupby("ticker").indices
    days = days.to_numpy()
    model, refusal = None, None
    try:
        model = serving_model(check_serving_state(settings, generation))
    except NotServableError as exc:
        refusal = exc
    newest = newest_outcome(generation)
    return ServingState(settings, generation, events, days, by_day, by_ticker, newest, model, refusal)


def recommend(
    state: ServingState,
    events: pd.DataFrame,
    *,
    implied: pd.DataFrame | None = None,
    quotes: pd.DataFrame | None = None,
    account: Account | None = None,
    costs: Costs | None = None,
    preset: str = "balanced",
    strike_quantile: float = 0.9,
) -> tuple[list[Recommendation], list[Refusal]]:
    """Forecast, decision and size for each event of the state's build, all events decided at once
    (`decide_many`: the same decisions as `decide` event by event); events that cannot be served are refused
    with a reason."""
    from ivcrush.training.predict import ensemble

    settings = state.settings
    account = account or Account()
    costs = costs or Costs()
    dates = dict(
        zip(events["event_id"], zip(events["decision_date"], events["reaction_date"], strict=True), strict=True)
    )
    model = state.serving_model()
    features = state.reader().features(events)
    # ensemble's declared type is a plain dict per event; ModelForecast spells out what it holds
    predictions = cast(
        list[ModelForecast],
        ensemble(model, features, model.verdicts, amc_labels_untrusted=settings.amc_labels_untrusted),
    )
    given = {} if implied is None else {row["ticker"]: row for row in _records(implied)}
    chains = {} if quotes is None else dict(tuple(quotes.groupby("ticker", sort=False)))
    newest = state.newest
    refusals: list[Refusal] = []
    served: list[tuple[dict[str, object], ModelForecast, MarketInputs, list[str], float | None]] = []
    for row, prediction in zip(_records(features), predictions, strict=True):
        ticker = row["ticker"]
        decided, reacted = dates[row["event_id"]]
        try:
            market = event_market(
                row,
                given.get(ticker, {}),
                chains.get(ticker),
                decision_date=pd.Timestamp(decided).date(),
                reaction_date=pd.Timestamp(reacted).date(),
            )
        except StrategyError as exc:
            refusals.append(Refusal(cast(str, ticker), str(exc)))
            continue
        stale_days = _stale_days(row.get("event_timestamp"), newest)
        notes, refusal = _qualifiers(settings, row, prediction, stale_days)
        if refusal is not None:
            refusals.append(Refusal(cast(str, ticker), refusal))
            continue
        served.append((row, prediction, market, [*notes, *market.notes], stale_days))
    if not served:
        return [], refusals
    distribution = forecast_distributions([prediction for _, prediction, _, _, _ in served])
    decisions = decide_many(
        distribution,
        markets=[market for _, _, market, _, _ in served],
        prob_up=[prediction["p_up"] for _, prediction, _, _, _ in served],
        account=account,
        costs=costs,
        hist_mean_2_0_pct=[number_or_none(row.get("hm_close_mean_12q_all_rows")) for row, *_ in served],
        preset=preset,
        strike_quantile=strike_quantile,
    )
    means = np.broadcast_to(distribution.mean(), (len(served),)).tolist()
    recommendations = [
        Recommendation(
            ticker=cast(str, row["ticker"]),
            event_id=cast(str, row["event_id"]),
            earnings_date=pd.Timestamp(row["earnings_date"]).date().isoformat(),  # type: ignore[arg-type]
            timing=cast(str, row["timing"]),
            implied_source=market.implied_source,
            spot_source=market.spot_source,
            basis=prediction["basis"],
            forecast={
                **prediction,
                "quantiles": {str(k): v for k, v in prediction["quantiles"].items()},
                "mean": mean,
                "market_features_stale": stale_days is not None and stale_days > settings.stale_market_days,
            },
            decision=decision,
            distribution=distribution.event(i),
            notes=notes,
        )
        for i, ((row, prediction, market, notes, stale_days), decision, mean) in enumerate(
            zip(served, decisions, means, strict=True)
        )
    ]
    recommendations.sort(key=lambda r: (r.decision.contracts == 0, -r.decision.ev_per_risk))
    return recommendations, refusals


def scan_state(
    state: ServingState, earnings_date: date, **options: Unpack[RecommendOptions]
) -> tuple[list[Recommendation], list[Refusal]]:
    """Every calendar event of the state on `earnings_date`, ranked (sized positions first, then by EV per
    unit of risk)."""
    rows = state.by_day.get(earnings_date)
    if rows is None:
        raise UnknownEventError(f"no calendar event on {earnings_date}")
    return recommend(state, state.events.iloc[rows].sort_values("ticker").reset_index(drop=True), **options)


def predict_state(
    state: ServingState, ticker: str, earnings_date: date | None, **options: Unpack[RecommendOptions]
) -> Recommendation:
    """The recommendation for one ticker's event of the state (its next event on the calendar if no date)."""
    rows = state.by_ticker.get(ticker)
    if rows is None:
        raise UnknownEventError(f"unknown ticker {ticker}: not in the calendar or the stored moves")
    dates = state.days[rows]  # selected by position: a frame is made only of the chosen rows
    if earnings_date is None:
        as_of = date.fromisoformat(state.generation.as_of)
        upcoming = rows[(dates >= as_of) & ~state.events["has_outcome"].to_numpy()[rows]]
        if not len(upcoming):
            raise UnknownEventError(f"no upcoming calendar event for {ticker} after {as_of}")
        chosen = upcoming[np.argsort(state.days[upcoming], kind="stable")[:1]]
    else:
        chosen = rows[dates == earnings_date]
        if not len(chosen):
            raise UnknownEventError(f"no calendar event for {ticker} on {earnings_date}")
    recommendations, refusals = recommend(state, state.events.iloc[chosen].reset_index(drop=True), **options)
    if refusals:
        raise ServingError(f"{ticker}: {refusals[0].reason}")
    return recommendations[0]


def scan(
    settings: Settings, earnings_date: date, **options: Unpack[RecommendOptions]
) -> tuple[list[Recommendation], list[Refusal]]:
    """Every calendar event on `earnings_date` of the published generation, ranked (one request)."""
    return scan_state(load_state(settings), earnings_date, **options)


def predict_one(
    settings: Settings, ticker: str, earnings_date: date | None, **options: Unpack[RecommendOptions]
) -> Recommendation:
    """The recommendation for one ticker's event of the published generation (one request)."""
    return predict_state(load_state(settings), ticker, earnings_date, **options)


def scan_payload(
    earnings_date: date,
    recommendations: list[Recommendation],
    refusals: list[Refusal],
    merged: Sequence[str] = (),
) -> dict[str, object]:
    """A day's scan as `ivcrush scan --json` prints it and `GET /scan/{date}` returns it (`merged`: the day's
    calendar rows merged into events of other dates, `events.merged_notes`)."""
    return {
        "date": earnings_date.isoformat(),
        "recommendations": [r.to_dict() for r in recommendations],
        "refused": [{"ticker": r.ticker, "reason": r.reason} for r in refusals],
        "merged": list(merged),
    }

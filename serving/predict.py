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
keeps one between requests until something newer is published. A state keeps each event's forecast once read
(`forecasts.EventForecast`: its online row, the models' forecast, its qualifiers and distribution; all fixed by
the generation, the model and the settings), so a request computes only its market and its decision
(`recommend_forecasts`: one event by `strategy.decide_one`, several by `strategy_batch.decide_many`, both exactly
`decide`'s decisions). An event
not kept yet is read and forecast alone without frames (`forecasts.event_forecast`), several at once from frames
(`forecasts.event_forecasts`): the same forecasts.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Unpack, cast

import numpy as np
import pandas as pd

from ivcrush.events import merged_notes
from ivcrush.serving.forecasts import EventForecast, event_forecast, event_forecasts
from ivcrush.serving.model import check_serving_state, serving_model
from ivcrush.serving.online import (
    EVENT_COLUMNS,
    NotServableError,
    OnlineReader,
    ServingError,
    UnknownEventError,
    calendar_events,
    newest_outcome,
)
from ivcrush.serving.recommend_forecasts import recommend_forecasts
from ivcrush.serving.recommendation import Recommendation, RecommendOptions, Refusal
from ivcrush.settings import Settings
from ivcrush.workspace import Generation, generation_build, published

if TYPE_CHECKING:
    from ivcrush.training.registry import LoadedModel

# The calendar columns an event's forecast reads (`forecasts.event_forecast`)
EVENT_FIELDS = (*EVENT_COLUMNS, "decision_date", "reaction_date")
# The most event forecasts a state keeps (each ~10 kB: its online row of ~130 features and its distribution)
MAX_KEPT_FORECASTS = 4096


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
    _forecasts: dict[str, EventForecast] = field(default_factory=dict, repr=False, compare=False)
    _forecasts_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _columns: dict[str, Sequence[object]] = field(default_factory=dict, repr=False, compare=False)  # EVENT_FIELDS

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

    def forecasts(self, events: pd.DataFrame) -> list[EventForecast]:
        """Each event's `EventForecast` (`events`: rows of the calendar), read and forecast once per state: only
        the events not forecast yet are read from the online store (and verified) and passed to the models."""
        model = self.serving_model()
        ids = events["event_id"].tolist()
        found = [self._forecasts.get(event_id) for event_id in ids]
        missing = [i for i, forecast in enumerate(found) if forecast is None]
        if missing:
            unknown = events if len(missing) == len(ids) else events.iloc[missing].reset_index(drop=True)
            fresh = event_forecasts(self.settings, self.reader(), model, self.newest, unknown)
            for i, forecast in zip(missing, fresh, strict=True):
                found[i] = forecast
            self._keep({ids[i]: forecast for i, forecast in zip(missing, fresh, strict=True)})
        return cast(list[EventForecast], found)

    def _keep(self, fresh: dict[str, EventForecast]) -> None:
        """Keep these forecasts, and at most MAX_KEPT_FORECASTS in all (the oldest go first)."""
        with self._forecasts_lock:
            kept = self._forecasts
            kept.update(fresh)
            for event_id in list(itertools.islice(kept, max(len(kept) - MAX_KEPT_FORECASTS, 0))):
                del kept[event_id]

    def warm(self) -> int:
        """Read and forecast ahead of their requests the events the online store serves (each ticker's latest
        event materialized) dated from the generation's as-of date on; the number of events kept."""
        events = self.events
        end = pd.Timestamp(self.generation.materialized_until)
        stored = events[events["event_timestamp"] <= end].sort_values("event_timestamp").groupby("ticker").tail(1)
        days = pd.to_datetime(stored["earnings_date"]).dt.date
        ahead = stored[days >= date.fromisoformat(self.generation.as_of)].reset_index(drop=True)
        ahead = ahead.head(MAX_KEPT_FORECASTS)
        try:
            forecasts = self.forecasts(ahead)
        except ServingError:  # an event the store does not hold: the others one by one
            forecasts = []
            for i in range(len(ahead)):
                with contextlib.suppress(ServingError):
                    forecasts += self.forecasts(ahead.iloc[[i]].reset_index(drop=True))
        for forecast in forecasts:
            forecast.distribution  # noqa: B018 (computed once: its mean, quadrature nodes and q99)
        return len(forecasts)

    def forget_forecasts(self) -> None:
        """Drop the kept forecasts (the benchmark's first request of an event: read and forecast again)."""
        self._forecasts.clear()

    def forecasts_at(self, rows: np.ndarray) -> list[EventForecast]:
        """`forecasts` of the calendar's rows at these positions (a frame is made only where one is missing)."""
        ids = self._calendar_columns()["event_id"]
        event_ids = [ids[row] for row in rows.tolist()]
        known = [self._forecasts.get(event_id) for event_id in event_ids]
        if any(forecast is None for forecast in known):
            one = self._forecast_one(int(rows[0])) if len(rows) == 1 else None
            if one is not None:
                return [one]
            return self.forecasts(self.events.iloc[rows].reset_index(drop=True))
        return cast(list[EventForecast], known)

    def _calendar_columns(self) -> dict[str, Sequence[object]]:
        """The calendar's EVENT_FIELDS columns (their arrays, whose items are `to_numpy(dtype=object)`'s)."""
        columns = self._columns
        if not columns:  # filled by one update (a thread never sees some of them)
            columns.update({column: self.events[column].array for column in EVENT_FIELDS})
        return columns

    def _forecast_one(self, position: int) -> EventForecast | None:
        """The forecast of the calendar's event at this position read and kept without frames
        (`forecasts.event_forecast`: the same forecast); None where only `forecasts` can make it."""
        event = {column: values[position] for column, values in self._calendar_columns().items()}
        forecast = event_forecast(self.settings, self.reader(), self.serving_model(), self.newest, event)
        if forecast is not None:
            self._keep({cast(str, event["event_id"]): forecast})
        return forecast


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
    state: ServingState, events: pd.DataFrame, **options: Unpack[RecommendOptions]
) -> tuple[list[Recommendation], list[Refusal]]:
    """Forecast, decision and size for each event of the state's build (rows of its calendar), several events
    decided at once (`decide_many`: the same decisions as `decide` event by event); events that cannot be
    served are refused with a reason."""
    return recommend_forecasts(state.settings, state.forecasts(events), **options)


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
    state: ServingState,
    ticker: str,
    earnings_date: date | None,
    *,
    given: Mapping[str, object] | None = None,
    **options: Unpack[RecommendOptions],
) -> Recommendation:
    """The recommendation for one ticker's event of the state (its next event on the calendar if no date);
    `given`: the ticker's market inputs of this request (`given_implied`), else `implied`'s row for it."""
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
    forecasts = state.forecasts_at(chosen)
    recommendations, refusals = recommend_forecasts(
        state.settings, forecasts, given=None if given is None else {ticker: given}, **options
    )
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

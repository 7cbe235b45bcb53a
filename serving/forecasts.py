"""One event's forecast under one serving state: its online features, the models' calibrated forecast, the
notes that qualify it (or the reason to refuse it) and its one-event `MoveDistribution`.

All of it is a function of the published generation (its online rows and calendar never change once
published), the registered model and the settings, never of a request's market inputs; a `ServingState`
therefore keeps each event's `EventForecast` once read (at most one per ticker: the online store holds one
row per ticker) and a request computes only its market and its decision. A new generation or model is a new
state with an empty store of forecasts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from ivcrush.serving.one_event import one_event
from ivcrush.serving.online import EVENT_COLUMNS, OnlineReader
from ivcrush.serving.payoff_one import stress_quantile
from ivcrush.serving.recommendation import ModelForecast, forecast_distribution
from ivcrush.settings import Settings
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import keep_quadrature_nodes, quantile_quadrature

if TYPE_CHECKING:
    from ivcrush.training.registry import LoadedModel


AMC_NOTE = (
    "AMC event: this forecast is NOT validated on AMC reactions (2.0 stores after-close moves on the announcement "
    "day, so the walk-forward evaluation has no AMC reaction to score); its intervals are widened like thin history"
)


def stale_days(decided_at: object, newest: pd.Timestamp | None) -> float | None:
    """Days from the newest stored outcome to the decision (None where either is unknown)."""
    days = _timestamp_days(decided_at, newest)
    if days is not None:
        return days
    if newest is None or pd.isna(decided_at):
        return None
    return (pd.Timestamp(decided_at) - newest).total_seconds() / 86_400


def _timestamp_days(decided_at: object, newest: object) -> float | None:
    """`stale_days` of two Timestamps, both naive or both aware (else None), on Python ints: pandas'
    days * 86400 + seconds + microseconds / 1e6 of the Timedelta (its nanoseconds dropped), / 86400: the same
    floats without a Timedelta."""
    if type(decided_at) is not pd.Timestamp or type(newest) is not pd.Timestamp:
        return None
    if (decided_at.tz is None) is not (newest.tz is None):  # pandas' TypeError
        return None
    days, rest = divmod((decided_at.value - newest.value) // 1000, 86_400_000_000)
    return (days * 86_400 + rest // 1_000_000 + (rest % 1_000_000) / 1e6) / 86_400


def qualifiers(
    settings: Settings, row: Mapping[str, object], prediction: ModelForecast, stale: float | None
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
    if stale is not None and stale > settings.stale_market_days:
        notes.append(
            f"market features STALE: the newest stored outcome is {stale:.0f} days before the decision "
            f"(more than {settings.stale_market_days}); the market-regime features describe the market as of then"
        )
    if prediction["p_up"] is None:
        notes.append("direction not used: the direction model has no walk-forward skill")
    return notes, None


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The frame's rows as dicts of plain values, as `to_dict("records")` gives them, from one object array
    (`to_dict` reads a wide frame column by column)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True)) for values in frame.to_numpy(dtype=object).tolist()]


@dataclass(frozen=True)
class EventForecast:
    """One event's served features (`row`), the models' forecast, its decision and reaction days, the days
    its market features are stale by, the notes that qualify it and the reason to refuse it (None: served)."""

    row: dict[str, object]
    prediction: ModelForecast
    decision_date: date
    reaction_date: date
    stale_days: float | None
    notes: tuple[str, ...]
    refusal: str | None
    _nodes: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)  # [nodes] once known

    @classmethod
    def of(
        cls,
        row: dict[str, object],
        prediction: ModelForecast,
        decision_date: date,
        reaction_date: date,
        stale_days: float | None,
        notes: tuple[str, ...],
        refusal: str | None,
    ) -> EventForecast:
        """`EventForecast(...)` of these fields without the frozen dataclass's `object.__setattr__` per field
        (a scan makes one per event): the same object."""
        forecast = object.__new__(cls)
        forecast.__dict__.update(
            row=row,
            prediction=prediction,
            decision_date=decision_date,
            reaction_date=reaction_date,
            stale_days=stale_days,
            notes=notes,
            refusal=refusal,
            _nodes=[],
        )
        return forecast

    @cached_property
    def distribution(self) -> MoveDistribution:
        """The forecast's one-event distribution, with its mean, quadrature nodes and q99 computed once."""
        distribution = forecast_distribution(self.prediction)
        if self._nodes:  # known from a scan's batch: not inverted again
            keep_quadrature_nodes(distribution, self._nodes)
        self.keep_nodes(quantile_quadrature(distribution)[0])  # kept (weakly keyed) while this distribution lives
        stress_quantile(distribution)  # ... as is its q99
        event = one_event(distribution)  # the mean a decision reads (`strategy.decide_one`: its one-event floats)
        event.mean if event is not None else distribution.mean()  # computed once, kept
        return distribution

    @property
    def nodes(self) -> np.ndarray | None:
        """The distribution's quadrature nodes (`economics.quantile_quadrature`, read-only) once known, from its
        distribution or a scan's batch (`economics.quadrature_nodes`: row for row the same), else None."""
        return self._nodes[0] if self._nodes else None

    def keep_nodes(self, nodes: np.ndarray) -> None:
        """Keep the distribution's quadrature nodes (read-only), where none are kept yet."""
        if not self._nodes:
            self._nodes.append(nodes)


def event_forecasts(
    settings: Settings,
    reader: OnlineReader,
    model: LoadedModel,
    newest: pd.Timestamp | None,
    events: pd.DataFrame,
) -> list[EventForecast]:
    """The `EventForecast` of each event (calendar rows), from one read of their online rows (verified to
    belong to these events: else NotServableError) and one pass of the models: without frames where the
    reader's records are plain and the model reads numeric features only (`frame_forecasts` otherwise, the same
    forecasts)."""
    from ivcrush.training.predict import EnsembleRows, ensemble_rows

    columns = _array_columns(reader, model)
    if columns is None:
        return frame_forecasts(settings, reader, model, newest, events)
    positions, own_level, prior_count = columns
    calendar = {column: events[column].array for column in EVENT_COLUMNS}
    rows, numbers = reader.feature_records(calendar)
    history = [
        numbers[:, position] if position is not None else np.full(len(rows), missing)
        for position, missing in ((own_level, np.nan), (prior_count, 0.0))
    ]
    arrays = EnsembleRows(
        x=numbers[:, positions],
        own_level=history[0],
        prior_count=history[1],
        tickers=_items(calendar["ticker"]),
        timings=_items(calendar["timing"]),
    )
    predictions = ensemble_rows(model, arrays, model.verdicts, amc_labels_untrusted=settings.amc_labels_untrusted)
    days = zip(events["decision_date"].tolist(), events["reaction_date"].tolist(), strict=True)
    return [
        _forecast(settings, newest, row, cast(ModelForecast, prediction), decided, reacted)
        for row, prediction, (decided, reacted) in zip(rows, predictions, days, strict=True)
    ]


def _items(values: Sequence[object]) -> list[object]:
    """The calendar column's items as `list` gives them, of an object column from its numpy array (pandas'
    arrays iterate item by item: ~0.2 us an item)."""
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        array = np.asarray(values)
        if array.dtype == object:  # (a number's tolist would be a Python float, list's a numpy scalar)
            return cast(list[object], array.tolist())
    return list(values)


def _array_columns(reader: OnlineReader, model: LoadedModel) -> tuple[list[int], int | None, int | None] | None:
    """Where the model's features and the history columns (own level, prior count) sit in the reader's numeric
    array (None: a history column not served), or None where `event_forecasts` needs frames: records a frame
    would change, a model feature not numeric, a history column served as text."""
    from ivcrush.training.scaling import OWN_LEVEL, PRIOR_COUNT

    index = {name: j for j, name in enumerate(reader.numeric)}
    columns = reader.columns
    if not reader.plain_records or any(name not in index for name in model.features):
        return None
    if any(name in columns and name not in index for name in (OWN_LEVEL, PRIOR_COUNT)):
        return None
    return [index[name] for name in model.features], index.get(OWN_LEVEL), index.get(PRIOR_COUNT)


def frame_forecasts(
    settings: Settings,
    reader: OnlineReader,
    model: LoadedModel,
    newest: pd.Timestamp | None,
    events: pd.DataFrame,
) -> list[EventForecast]:
    """`event_forecasts` through frames: the reader's `features` frame, `ensemble` of it, its records."""
    from ivcrush.training.predict import ensemble

    features = reader.features(events)
    # ensemble's declared type is a plain dict per event; ModelForecast spells out what it holds
    predictions = cast(
        list[ModelForecast],
        ensemble(model, features, model.verdicts, amc_labels_untrusted=settings.amc_labels_untrusted),
    )
    days = zip(events["decision_date"].tolist(), events["reaction_date"].tolist(), strict=True)
    return [
        _forecast(settings, newest, row, prediction, decided, reacted)
        for row, prediction, (decided, reacted) in zip(records(features), predictions, days, strict=True)
    ]


def event_forecast(
    settings: Settings,
    reader: OnlineReader,
    model: LoadedModel,
    newest: pd.Timestamp | None,
    event: Mapping[str, object],
) -> EventForecast | None:
    """`event_forecasts` of one event given by its calendar values (`event`: EVENT_COLUMNS, decision_date and
    reaction_date, as `to_numpy(dtype=object)` gives them), without a frame: the same forecast. None where that
    is not certain (the reader's records or the model's features are not plain: use `event_forecasts`)."""
    from ivcrush.training.predict import ensemble_one

    if not reader.plain_records:
        return None
    row = reader.feature_record(event)
    try:
        prediction = ensemble_one(model, row, model.verdicts, amc_labels_untrusted=settings.amc_labels_untrusted)
    except TypeError:  # a model feature or history column the reader does not serve as a float
        return None
    return _forecast(
        settings, newest, row, cast(ModelForecast, prediction), event["decision_date"], event["reaction_date"]
    )


def _forecast(
    settings: Settings,
    newest: pd.Timestamp | None,
    row: dict[str, object],
    prediction: ModelForecast,
    decided: object,
    reacted: object,
) -> EventForecast:
    stale = stale_days(row.get("event_timestamp"), newest)
    notes, refusal = qualifiers(settings, row, prediction, stale)
    return EventForecast.of(row, prediction, calendar_day(decided), calendar_day(reacted), stale, tuple(notes), refusal)


def calendar_day(value: object) -> date:
    """The calendar day of a date, a timestamp or its text (a date as it is: its Timestamp's date)."""
    return value if type(value) is date else pd.Timestamp(value).date()  # type: ignore[arg-type]

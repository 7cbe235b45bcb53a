"""The one-event path of a request (`OnlineReader.feature_record`, `training.predict.ensemble_one`,
`forecasts.event_forecast`: no frames) gives exactly what the batch path (`features`, `ensemble`,
`event_forecasts`) gives for that event: its online row (values and their types), the models' forecast, the
notes and refusals."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ivcrush.build import build
from ivcrush.feature_repo.materialize import materialize
from ivcrush.serving.forecasts import EventForecast, event_forecast, event_forecasts, frame_forecasts, records
from ivcrush.serving.model import serving_model
from ivcrush.serving.predict import EVENT_FIELDS, load_state
from ivcrush.settings import Settings
from ivcrush.training.predict import ensemble, ensemble_one
from ivcrush.training.registry import LoadedModel, load_latest
from ivcrush.training.release import train_and_register

SCANNED_MOST = "SELECT earnings_date FROM iv_log GROUP BY earnings_date ORDER BY count(*) DESC, earnings_date LIMIT 1"


@pytest.fixture(scope="module")
def served(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample built, published as of the day 2.0 scanned most events for, and trained."""
    settings = Settings(workdir=tmp_path_factory.mktemp("one-event") / "work", db=sample_db)
    with sqlite3.connect(f"file:{sample_db}?mode=ro&immutable=1", uri=True) as con:
        day = date.fromisoformat(con.execute(SCANNED_MOST).fetchone()[0])
    build(settings)
    materialize(settings, day)
    train_and_register(settings, num_boost_round=40, quick_folds=2)
    return settings


def _same(a: object, b: object) -> bool:
    """Equal values of the same type (NaN equal to NaN), dicts and lists element by element, in order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    return bool(a == b)


def _same_forecast(one: EventForecast, batch: EventForecast) -> bool:
    fields = ("row", "prediction", "decision_date", "reaction_date", "stale_days", "notes", "refusal")
    return all(_same(getattr(one, name), getattr(batch, name)) for name in fields)


def _stored(settings: Settings) -> pd.DataFrame:
    """Each ticker's latest materialized event (what the online store holds), and their positions."""
    state = load_state(settings)
    events = state.events.reset_index(drop=True)
    stored = events[events["event_timestamp"] <= pd.Timestamp(state.generation.materialized_until)]
    return stored.sort_values("event_timestamp").groupby("ticker").tail(1)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"thin_history": "refuse"},
        {"amc_labels_untrusted": False, "stale_market_days": 0},
    ],
)
def test_one_event_forecasts_equal_the_batch_for_every_stored_event(served: Settings, changes: dict) -> None:
    settings = replace(served, **changes)
    state = load_state(settings)
    stored = _stored(settings)
    assert len(stored) >= 10
    model, reader = state.serving_model(), state.reader()
    batch = event_forecasts(settings, reader, model, state.newest, stored.reset_index(drop=True))
    notes, refused = set(), 0
    for (position, event), expected in zip(stored.iterrows(), batch, strict=True):
        values = {column: state.events[column].array[position] for column in EVENT_FIELDS}
        one = event_forecast(settings, reader, model, state.newest, values)
        assert one is not None
        assert _same_forecast(one, expected), event["event_id"]
        alone = event_forecasts(settings, reader, model, state.newest, stored.loc[[position]].reset_index(drop=True))
        assert _same_forecast(one, alone[0])
        notes.update(note.split(":")[0] for note in one.notes)
        refused += one.refusal is not None
    # the cases covered: thin history (widened or refused), AMC events, stale market features
    if changes.get("thin_history") == "refuse":
        assert refused
    else:
        assert "thin history" in notes
    if changes.get("stale_market_days") == 0:
        assert "market features STALE" in notes
    elif settings.amc_labels_untrusted:
        assert "AMC event" in notes


def test_the_state_serves_one_event_through_the_one_event_path(served: Settings) -> None:
    """A fresh state's first request of an event reads it without frames and keeps it: the same forecast."""
    state = load_state(served)
    stored = _stored(served)
    rows = np.array([stored.index[0]])
    one = state.forecasts_at(rows)
    assert one[0] is state.forecasts_at(rows)[0]  # kept
    batch = load_state(served).forecasts(stored.loc[[stored.index[0]]].reset_index(drop=True))
    assert _same_forecast(one[0], batch[0])


def _models(settings: Settings) -> list[LoadedModel]:
    loaded = load_latest(settings.workdir)
    return [loaded, serving_model(loaded)]  # LightGBM's predict and the compiled forest


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_ensemble_one_equals_the_batch_on_any_row(served: Settings, data: st.DataObject) -> None:
    """Rows with NaN features, any prior trusted moves (thin or long history), either timing, with or without
    the history columns: `ensemble_one` of the row is `ensemble` of the frame, row by row."""
    state = load_state(served)
    frame = state.reader().features(_stored(served).reset_index(drop=True))
    row = dict(data.draw(st.sampled_from(records(frame))))
    for model in _models(served):
        for name in data.draw(st.lists(st.sampled_from(list(model.features)), max_size=20)):
            row[name] = math.nan
        row["hm_prior_events"] = data.draw(st.sampled_from([math.nan, 0.0, 1.0, 2.0, 3.0, 7.0, 12.0, 30.0]))
        row["hm_close_mean_12q"] = data.draw(st.sampled_from([math.nan, -1.0, 0.0, 2.5, 8.0]))
        row["timing"] = data.draw(st.sampled_from(["AMC", "BMO", "UNKNOWN"]))
        verdicts = data.draw(st.sampled_from([model.verdicts, {}, {"move_size": {"skill": False}}]))
        amc = data.draw(st.booleans())
        frame_of_row = pd.DataFrame([row])
        expected = ensemble(model, frame_of_row, verdicts, amc_labels_untrusted=amc)[0]
        assert _same(ensemble_one(model, row, verdicts, amc_labels_untrusted=amc), expected)
        # without the history columns, as a frame without them
        bare = {k: v for k, v in row.items() if k not in ("hm_close_mean_12q", "timing")}
        if "hm_close_mean_12q" not in model.features:
            expected = ensemble(model, pd.DataFrame([bare]), verdicts, amc_labels_untrusted=amc)[0]
            assert _same(ensemble_one(model, bare, verdicts, amc_labels_untrusted=amc), expected)


def test_ensemble_one_refuses_a_row_whose_features_are_not_floats(served: Settings) -> None:
    model = load_latest(served.workdir)
    row: dict[str, object] = dict.fromkeys(model.features, 1.0)
    row[model.features[0]] = "1.0"
    with pytest.raises(TypeError):
        ensemble_one(model, row)


def test_an_event_whose_record_is_not_plain_is_forecast_by_the_batch_path(served: Settings) -> None:
    """A reader whose records a frame would change (a datetime text, repeated names) leaves the one-event path:
    the state forecasts the event through `event_forecasts`, the same forecast."""
    state = load_state(served)
    reader = state.reader()
    reader.plain_records = False
    stored = _stored(served)
    position = stored.index[0]
    values = {column: state.events[column].array[position] for column in EVENT_FIELDS}
    assert event_forecast(served, reader, state.serving_model(), state.newest, values) is None
    one = state.forecasts_at(np.array([position]))
    batch = load_state(served).forecasts(stored.loc[[position]].reset_index(drop=True))
    assert _same_forecast(one[0], batch[0])


@pytest.mark.parametrize("changes", [{}, {"thin_history": "refuse"}, {"amc_labels_untrusted": False}])
def test_the_batch_without_frames_equals_the_frame_path_for_every_stored_event(served: Settings, changes: dict) -> None:
    """`event_forecasts` (the reader's records and `ensemble_rows`, no frame) gives exactly `frame_forecasts`
    (the `features` frame, `ensemble`, its records) for all stored events at once, in any order, and for one."""
    settings = replace(served, **changes)
    state = load_state(settings)
    stored = _stored(settings).reset_index(drop=True)
    model, reader = state.serving_model(), state.reader()
    for events in (stored, stored.iloc[::-1].reset_index(drop=True), stored.head(1)):
        arrays = event_forecasts(settings, reader, model, state.newest, events)
        frames = frame_forecasts(settings, reader, model, state.newest, events)
        assert len(arrays) == len(events)
        assert all(_same_forecast(a, f) for a, f in zip(arrays, frames, strict=True))


def test_the_batch_takes_frames_where_the_records_are_not_plain(
    served: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader whose records a frame would change leaves the array path: `event_forecasts` is `frame_forecasts`."""
    state = load_state(served)
    reader = state.reader()
    reader.plain_records = False
    stored = _stored(served).reset_index(drop=True)
    monkeypatch.setattr(type(reader), "feature_records", None)  # never called
    forecasts = event_forecasts(served, reader, state.serving_model(), state.newest, stored)
    frames = frame_forecasts(served, reader, state.serving_model(), state.newest, stored)
    assert all(_same_forecast(a, f) for a, f in zip(forecasts, frames, strict=True))

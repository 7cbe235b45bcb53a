"""Online features for upcoming earnings events, read from Feast's online store through the model's
feature service. Each row is checked to describe the requested event, not an older one.

Everything here reads one published generation, given by the caller (resolved once per request): its
build's calendar and its online store, never the workspace's `current` build.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from itertools import chain, repeat
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.packed import EVENT_CHECK
from ivcrush.feature_repo.store import generation_redis_url, online_store_errors
from ivcrush.serving.online_packed import PackedRedisRows, PackedRows, PackedSqliteRows, packed_serves
from ivcrush.serving.online_rows import LayoutMissingError, RedisRows, Rows, SqliteRows
from ivcrush.settings import Settings
from ivcrush.workspace import Generation, mart_path, published

EVENT_ID_REF = ":".join(EVENT_CHECK)
EVENT_ID = EVENT_CHECK[1]
EVENT_COLUMNS = ["event_id", "ticker", "earnings_date", "timing", "event_timestamp"]
NUMERIC_TYPES = frozenset({"DOUBLE", "FLOAT", "INT64", "INT32"})  # Feast value types served as float64 to models
PLAIN_TEXTS = frozenset({"STRING", "BOOL"})  # ... and those a frame of one row keeps as they are


class ServingError(IvcrushError):
    """The online store cannot serve the request as asked; the message says what to do."""


class UnknownEventError(ServingError):
    """The calendar holds no such ticker or event."""


class NotServableError(ServingError):
    """What is published cannot be served (a stale online store, no model for it); the message says what to run."""


def calendar_events(generation: Generation) -> pd.DataFrame:
    """Every event (past and upcoming) of the generation's build."""
    return pd.read_parquet(mart_path(Path(generation.build_dir), "earnings_events"))


def newest_outcome(generation: Generation) -> pd.Timestamp | None:
    """When the newest stored outcome of the generation's build became known (None without any)."""
    labels = pd.read_parquet(mart_path(Path(generation.build_dir), "event_labels"), columns=["outcome_known_at"])
    newest = pd.to_datetime(labels["outcome_known_at"], utc=True).max()
    return None if pd.isna(newest) else newest


def events_on(generation: Generation, earnings_date: date) -> pd.DataFrame:
    """The calendar's events with this earnings date in the generation's build; ServingError where none."""
    return events_of_day(calendar_events(generation), earnings_date)


def events_of_day(events: pd.DataFrame, earnings_date: date) -> pd.DataFrame:
    """The events (of a build's calendar) with this earnings date, by ticker; ServingError where none."""
    chosen = events[pd.to_datetime(events["earnings_date"]).dt.date == earnings_date]
    if chosen.empty:
        raise UnknownEventError(f"no calendar event on {earnings_date}")
    return chosen.sort_values("ticker").reset_index(drop=True)


class OnlineReader:
    """The feature service's online rows of one generation, read from its online store.

    The rows of the generation's packed view (one per ticker, `online_packed`) where it has one; else (a
    generation of an older ivcrush) the per-feature views' rows. SQLite rows are read without Feast, by the
    layout recorded at materialize time; Redis rows through Feast's own `online_read`. Values are decoded as
    Feast decodes them: `read` equals `get_online_features(...).to_df()` (tests/test_predictor.py), whichever
    rows are read (tests/test_packed.py).
    """

    def __init__(self, settings: Settings, generation: Generation) -> None:
        self._generation = generation
        self._redis_url = generation_redis_url(settings, generation)
        sqlite = generation.online_store == "sqlite"
        self._packed: PackedRows | None = None
        try:
            with online_store_errors(generation.online_store, self._redis_url):
                if packed_serves(generation, EVENT_CHECK):
                    self._packed = (PackedSqliteRows if sqlite else PackedRedisRows)(settings, generation, EVENT_CHECK)
                    self._rows: PackedRows | SqliteRows | RedisRows = self._packed
                else:
                    self._rows = (SqliteRows if sqlite else RedisRows)(settings, generation, EVENT_CHECK)
        except LayoutMissingError as exc:
            raise NotServableError(str(exc)) from None
        self._types = self._rows.types
        self._numeric = [f for f, kind in self._types.items() if kind in NUMERIC_TYPES]
        self._texts = [f for f in self._types if f not in self._numeric and f != EVENT_ID]
        self._numeric_columns = pd.Index(self._numeric)  # made once: an Index of 100+ names costs more than a row
        columns = [*EVENT_COLUMNS, *self._texts, *self._numeric]
        # whether `feature_record` equals the rows of `features`: their columns are distinct and each text is a
        # string or a bool (a frame keeps those as they are; it would make a column of datetimes a Timestamp)
        plain = all(self._types[f] in PLAIN_TEXTS for f in self._texts)
        self.plain_records = len(set(columns)) == len(columns) and plain

    def _decoded(self, tickers: list[str]) -> Rows:
        """{ticker: {feature: value as Feast decodes it}} of distinct tickers (a feature without a value: absent
        or None; a ticker without rows: absent)."""
        if not tickers:
            return {}
        with online_store_errors(self._generation.online_store, self._redis_url):
            return self._rows.rows(tickers)

    def _records(self, tickers: list[str]) -> tuple[list[dict[str, object]], np.ndarray]:
        """Each ticker's row (as given; at least its texts and event_id, {} where the store holds none) and its
        numeric features (tickers, `numeric`) as float64, NaN where missing."""
        if not tickers:
            return [], np.empty((0, len(self._numeric)))
        if self._packed is not None:
            with online_store_errors(self._generation.online_store, self._redis_url):
                return self._packed.records(tickers, self._numeric)
        decoded = self._decoded(sorted(set(tickers)))
        rows = [decoded.get(ticker, {}) for ticker in tickers]
        return rows, self._numbers(rows)

    def read(self, tickers: list[str]) -> pd.DataFrame:
        """The online features of each ticker (one row per ticker as given, None where the store holds none):
        the frame `get_online_features(...).to_df()` gives."""
        decoded = self._decoded(sorted(set(tickers)))
        rows = [decoded.get(ticker, {}) for ticker in tickers]
        return pd.DataFrame({"ticker": list(tickers), **{f: [row.get(f) for row in rows] for f in self._types}})

    def _check_events(self, tickers: Iterable[object], served: list[object], event_ids: Iterable[object]) -> None:
        """Refuse events whose ticker's online row describes another event (older or newer)."""
        stale = [(t, s, e) for t, s, e in zip(tickers, served, event_ids, strict=True) if s != e]
        if stale:
            examples = ", ".join(f"{ticker} serves {held} not {event}" for ticker, held, event in stale[:3])
            raise NotServableError(
                f"the online store (materialized as of {self._generation.as_of}) does not hold {len(stale)} of "
                f"these events ({examples}); run `ivcrush materialize --as-of <the events' date>`"
            )

    def served(self, events: pd.DataFrame) -> pd.DataFrame:
        """The online features of each event (ticker) as Feast types them, verified to belong to that event."""
        served = self.read(events["ticker"].unique().tolist())
        joined = events[EVENT_COLUMNS].merge(served.rename(columns={"event_id": "served"}), on="ticker", how="left")
        self._check_events(joined["ticker"], joined["served"].tolist(), joined["event_id"])
        return joined.drop(columns="served")

    def features(self, events: pd.DataFrame) -> pd.DataFrame:
        """`served` with the numeric features as float64 (NaN where missing), in one block: what the models and
        the strategy read, without per-column conversions on every request."""
        tickers = events["ticker"].tolist()
        rows, numbers = self._records(tickers)
        self._check_events(tickers, [row.get(EVENT_ID) for row in rows], events["event_id"])
        # built from arrays (a column selection and reset_index of `events` cost more than the rest)
        texts = {f: [row.get(f) for row in rows] for f in self._texts}
        parts = [pd.DataFrame({**{c: events[c].array for c in EVENT_COLUMNS}, **texts})]
        numeric = pd.DataFrame(numbers, columns=self._numeric_columns, copy=False)
        return pd.concat([*parts, numeric], axis=1)

    def _numbers(self, rows: list[dict[str, object]]) -> np.ndarray:
        """The numeric features of the rows (rows, features) as float64, NaN where missing: the floats
        `np.array(..., dtype="float64")` makes of the values, without its nested lists."""
        shape = (len(rows), len(self._numeric))
        values = chain.from_iterable(map(row.get, self._numeric, repeat(math.nan)) for row in rows)
        try:
            return np.fromiter(values, dtype="float64", count=shape[0] * shape[1]).reshape(shape)
        except TypeError:  # a value None (no value, as the Redis store gives it): NaN by np.array
            return np.array([[row.get(f) for f in self._numeric] for row in rows], dtype="float64").reshape(shape)

    @property
    def numeric(self) -> list[str]:
        """The numeric features, in the order of `features`' numeric columns and `feature_records`' array."""
        return self._numeric

    @property
    def columns(self) -> list[str]:
        """The columns of `features`, in order: the calendar's EVENT_COLUMNS, the texts, the numeric features."""
        return [*EVENT_COLUMNS, *self._texts, *self._numeric]

    def feature_records(self, events: Mapping[str, Sequence[object]]) -> tuple[list[dict[str, object]], np.ndarray]:
        """`features` of the events without a frame: each event's row as `forecasts.records` gives it (only where
        `plain_records`), and the numeric features (events, `numeric`) as float64, verified to belong to the
        events. `events`: the events' calendar columns (at least EVENT_COLUMNS), each holding its values as
        `to_numpy(dtype=object)` gives them."""
        tickers = cast(list[str], list(events["ticker"]))
        rows, numbers = self._records(tickers)
        self._check_events(tickers, [row.get(EVENT_ID) for row in rows], events["event_id"])
        columns = self.columns
        texts = ([row.get(f) for row in rows] for f in self._texts)
        heads = zip(*(events[column] for column in EVENT_COLUMNS), *texts, strict=True)
        records = [
            dict(zip(columns, (*head, *values), strict=True))
            for head, values in zip(heads, numbers.tolist(), strict=True)
        ]
        return records, numbers

    def feature_record(self, event: Mapping[str, object]) -> dict[str, object]:
        """One event's row of `features` as a dict, as `forecasts.records` gives it (its calendar columns, the
        texts, the numeric features as floats, NaN where missing), verified to belong to that event: without a
        frame. `event`: the event's calendar values (at least EVENT_COLUMNS), as `to_numpy(dtype=object)` gives
        them."""
        ticker = cast(str, event["ticker"])
        (row,), numbers = self._records([ticker])  # the numbers converted as `features` converts them
        self._check_events([ticker], [row.get(EVENT_ID)], [event["event_id"]])
        record = {column: event[column] for column in EVENT_COLUMNS}
        record.update((f, row.get(f)) for f in self._texts)
        record.update(zip(self._numeric, numbers[0].tolist(), strict=True))
        return record


def online_features(settings: Settings, generation: Generation, events: pd.DataFrame) -> pd.DataFrame:
    """The feature service's online values for each event (ticker), verified to belong to that event."""
    return OnlineReader(settings, generation).served(events)


def online_features_on(settings: Settings, earnings_date: date) -> pd.DataFrame:
    """The online features of the calendar's events on a date, all read from one published generation."""
    generation = published(settings)
    return online_features(settings, generation, events_on(generation, earnings_date))

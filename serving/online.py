"""Online features for upcoming earnings events, read from Feast's online store through the model's
feature service. Each row is checked to describe the requested event, not an older one.

Everything here reads one published generation, given by the caller (resolved once per request): its
build's calendar and its online store, never the workspace's `current` build.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.store import generation_redis_url, online_store_errors, open_published_store
from ivcrush.settings import Settings
from ivcrush.workspace import Generation, mart_path, published

if TYPE_CHECKING:
    from feast import FeatureView
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.value_type import ValueType

EVENT_ID_REF = "calendar_features:event_id"
EVENT_ID = EVENT_ID_REF.split(":")[1]
EVENT_COLUMNS = ["event_id", "ticker", "earnings_date", "timing", "event_timestamp"]
NUMERIC_TYPES = frozenset({"DOUBLE", "FLOAT", "INT64", "INT32"})  # Feast value types served as float64 to models
# Value kinds whose Python value is the field itself, as Feast's `feast_value_type_to_python_type` returns it
# for the feature types of these views (Float64, Int64, String); any other kind is decoded by that function.
PLAIN_VALUES = frozenset({"double_val", "float_val", "int64_val", "int32_val", "string_val", "bool_val"})


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

    The feature views are resolved from the generation's registry once (Feast's `get_online_features` does it
    on every call). SQLite rows are read from the generation's online-store file in one query over the views'
    tables, as Feast's SQLite store reads each; Redis rows through Feast's own `online_read`. Values are decoded
    as Feast decodes them: `read` equals `get_online_features(...).to_df()` (tests/test_predictor.py).
    """

    def __init__(self, settings: Settings, generation: Generation) -> None:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.helpers import compute_table_id

        store = open_published_store(settings, generation)
        service = store.get_feature_service(generation.feature_service)
        self._generation = generation
        self._redis_url = generation_redis_url(settings, generation)
        self._config = store.config
        self._serialize = serialize_entity_key
        self._online_store = store._get_provider().online_store
        self._views: dict[str, tuple[FeatureView, list[str]]] = {}
        self._types: dict[str, ValueType] = {}
        view_name, feature_name = EVENT_ID_REF.split(":")
        requested = [(p.name, [f.name for f in p.features]) for p in service.feature_view_projections]
        for name, features in [*requested, (view_name, [feature_name])]:
            view, names = self._views.setdefault(name, (store.get_feature_view(name), []))
            names.extend(f for f in features if f not in names)
            dtypes = {field.name: field.dtype.to_value_type() for field in view.features}
            self._types.update({feature: dtypes[feature] for feature in features})
        self._numeric = [f for f, kind in self._types.items() if kind.name in NUMERIC_TYPES]
        self._sqlite: sqlite3.Connection | None = None
        self._tables: dict[str, str] = {}
        if generation.online_store == "sqlite":
            path = Path(self._config.online_store.path)
            self._sqlite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            self._tables = {name: compute_table_id(generation.project, view) for name, (view, _) in self._views.items()}
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}

    def _entity_key(self, ticker: str) -> EntityKey:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        return EntityKey(join_keys=["ticker"], entity_values=[Value(string_val=ticker)])

    def _serialized_key(self, ticker: str) -> bytes:
        """The ticker's entity key as the SQLite store keys its rows (computed once per ticker)."""
        key = self._keys.get(ticker)
        if key is None:
            version = self._config.entity_key_serialization_version
            key = self._serialize(self._entity_key(ticker), entity_key_serialization_version=version)
            self._keys[ticker] = key
        return key

    def _sqlite_rows(self, tickers: list[str]) -> dict[str, dict[str, dict[str, Value]]]:
        """{view: {ticker: {feature: value}}} from the SQLite online store, in one query."""
        from feast.protos.feast.types.Value_pb2 import Value

        assert self._sqlite is not None
        keys = {self._serialized_key(t): t for t in tickers}
        marks = ",".join("?" * len(keys))
        query = " UNION ALL ".join(
            f'SELECT {i}, entity_key, feature_name, value FROM "{table}" WHERE entity_key IN ({marks})'
            for i, table in enumerate(self._tables.values())
        )
        with self._lock:
            fetched = self._sqlite.execute(query, list(keys) * len(self._tables)).fetchall()
        views = list(self._tables)
        rows: dict[str, dict[str, dict[str, Value]]] = {view: {} for view in views}
        for view, key, feature, value in fetched:
            rows[views[view]].setdefault(keys[key], {})[feature] = Value.FromString(value)
        return rows

    def _redis_rows(self, view: FeatureView, features: list[str], tickers: list[str]) -> dict[str, dict[str, Value]]:
        """{ticker: {feature: value}} of one view through Feast's Redis online store."""
        keys = [self._entity_key(t) for t in tickers]
        read = self._online_store.online_read(self._config, view, keys, list(features))  # it appends to the list
        return {t: row for t, (_, row) in zip(tickers, read, strict=True) if row}

    def _decoded(self, tickers: list[str]) -> dict[str, dict[str, object]]:
        """{ticker: {feature: value as Feast decodes it}} of distinct tickers (a ticker without rows: absent)."""
        from feast.type_map import feast_value_type_to_python_type as decode

        decoded: dict[str, dict[str, object]] = {}
        if not tickers:
            return decoded
        with online_store_errors(self._generation.online_store, self._redis_url):
            from_sqlite = self._sqlite_rows(tickers) if self._sqlite is not None else {}
            for name, (view, features) in self._views.items():
                rows = (
                    from_sqlite.get(name, {}) if self._sqlite is not None else self._redis_rows(view, features, tickers)
                )
                for ticker, row in rows.items():
                    values = decoded.setdefault(ticker, {})
                    for feature in features:
                        proto = row.get(feature)
                        kind = None if proto is None else proto.WhichOneof("val")
                        if kind in PLAIN_VALUES:
                            values[feature] = getattr(proto, kind)
                        elif proto is not None:
                            values[feature] = decode(proto, self._types[feature])
        return decoded

    def read(self, tickers: list[str]) -> pd.DataFrame:
        """The online features of each ticker (one row per ticker as given, None where the store holds none):
        the frame `get_online_features(...).to_df()` gives."""
        decoded = self._decoded(sorted(set(tickers)))
        rows = [decoded.get(ticker, {}) for ticker in tickers]
        return pd.DataFrame({"ticker": list(tickers), **{f: [row.get(f) for row in rows] for f in self._types}})

    def _check_events(self, events: pd.DataFrame, served: list[object]) -> None:
        """Refuse events whose ticker's online row describes another event (older or newer)."""
        stale = [(t, s, e) for t, s, e in zip(events["ticker"], served, events["event_id"], strict=True) if s != e]
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
        self._check_events(joined, joined["served"].tolist())
        return joined.drop(columns="served")

    def features(self, events: pd.DataFrame) -> pd.DataFrame:
        """`served` with the numeric features as float64 (NaN where missing), in one block: what the models and
        the strategy read, without per-column conversions on every request."""
        tickers = events["ticker"].tolist()
        decoded = self._decoded(sorted(set(tickers)))
        rows = [decoded.get(ticker, {}) for ticker in tickers]
        self._check_events(events, [row.get(EVENT_ID) for row in rows])
        numbers = np.array([[row.get(f) for f in self._numeric] for row in rows], dtype="float64")
        texts = {f: [row.get(f) for row in rows] for f in self._types if f not in self._numeric and f != EVENT_ID}
        parts = [events[EVENT_COLUMNS].reset_index(drop=True), pd.DataFrame(texts)]
        return pd.concat([*parts, pd.DataFrame(numbers.reshape(len(rows), -1), columns=self._numeric)], axis=1)


def online_features(settings: Settings, generation: Generation, events: pd.DataFrame) -> pd.DataFrame:
    """The feature service's online values for each event (ticker), verified to belong to that event."""
    return OnlineReader(settings, generation).served(events)


def online_features_on(settings: Settings, earnings_date: date) -> pd.DataFrame:
    """The online features of the calendar's events on a date, all read from one published generation."""
    generation = published(settings)
    return online_features(settings, generation, events_on(generation, earnings_date))

"""The online rows of one generation, decoded as Feast decodes them: from SQLite without Feast, from Redis
through Feast's own online store; from the packed view (`feature_repo.packed`: one row per ticker) where the
generation has it, else from the per-feature views.

Feast's SQLite store keeps one row per (serialized entity key, feature name) holding a serialized `ValueProto`.
The SQLite path reads them with sqlite3 from the table names, feature types and key encoding that materialize
recorded in the generation (`Generation.online_layout`), builds the entity key as Feast's
`serialize_entity_key` does for one string join key, and decodes the values of the plain kinds (double, float,
int64, int32, string, bool, or none) from the protobuf wire format; any other kind goes to Feast's decoder
(imported only then). Serving from SQLite imports no Feast (tests/test_predictor.py checks both). The packed
view's rows: `online_packed`.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from typing import TYPE_CHECKING, Any

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.store import open_published_store
from ivcrush.settings import Settings
from ivcrush.workspace import Generation

if TYPE_CHECKING:
    from feast import FeatureView

JOIN_KEY = "ticker"
STRING_TYPE = 2  # feast.value_type.ValueType.STRING
OTHER = object()  # a value of a kind `plain_value` leaves to Feast's decoder
# (field number << 3 | wire type) of the plain kinds of Feast's Value message (one byte: fields 2-7)
STRING_TAG, INT32_TAG, INT64_TAG, DOUBLE_TAG, FLOAT_TAG, BOOL_TAG = 0x12, 0x18, 0x20, 0x29, 0x35, 0x38
NAME_SEPARATOR = "\x1f"  # between the feature names of a row (a control character: in no column name)
PLAIN_KINDS = frozenset({"double_val", "float_val", "int64_val", "int32_val", "string_val", "bool_val"})
_DOUBLE, _FLOAT = struct.Struct("<d"), struct.Struct("<f")
KNOWN_VALUES = 100_000  # plain values remembered by their hex (about 100 bytes each)
# SQLite's page cache of the reader's connection, KiB (default 2 MiB: a store of 433 tickers is 10 MiB, so a scan
# read its pages again from the file). Kept pages are checked against the file at each read, as SQLite does.
PAGE_CACHE_KIB = 64 * 1024

# {ticker: {feature: value}}; a feature without a value: absent or None
Rows = dict[str, dict[str, object]]


class LayoutMissingError(IvcrushError):
    """The generation was published without the layout that serving reads SQLite rows by."""


def entity_key(value: str, version: int, join_key: str = JOIN_KEY) -> bytes:
    """The entity key of one string join key as Feast's `serialize_entity_key` writes it."""
    key, encoded = join_key.encode(), value.encode()
    head = struct.pack("<III", 1, STRING_TYPE, len(key)) if version > 2 else struct.pack("<I", STRING_TYPE)
    return head + key + struct.pack("<II", STRING_TYPE, len(encoded)) + encoded


def varint(raw: bytes, start: int) -> tuple[int, int]:
    """The varint at `start` and where it ends (IndexError where it is cut short)."""
    value, shift, at = 0, 0, start
    while True:
        byte = raw[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def plain_value(raw: bytes) -> object:
    """A serialized `ValueProto` of one plain kind as Feast decodes it (None where no value is set); OTHER for
    any other kind or layout (left to Feast's decoder)."""
    if not raw:
        return None
    tag, size = raw[0], len(raw)
    if tag == DOUBLE_TAG and size == 9:
        return _DOUBLE.unpack_from(raw, 1)[0]
    if tag == FLOAT_TAG and size == 5:
        return _FLOAT.unpack_from(raw, 1)[0]
    try:
        value, end = varint(raw, 1)
        if tag == STRING_TAG and end + value == size:
            return raw[end:].decode()
    except (IndexError, UnicodeDecodeError):
        return OTHER
    if end != size:
        return OTHER
    if tag == INT64_TAG:
        return _signed(value, 64)
    if tag == INT32_TAG:
        return _signed(value, 32)
    return value != 0 if tag == BOOL_TAG else OTHER


def feast_value(raw: bytes, value_type: str) -> object:
    """A serialized `ValueProto` decoded by Feast itself (`feast_value_type_to_python_type`)."""
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import feast_value_type_to_python_type
    from feast.value_type import ValueType

    return feast_value_type_to_python_type(Value.FromString(raw), ValueType[value_type])


def requested_features(layout: dict[str, Any], service: str, extra: tuple[str, str]) -> dict[str, list[str]]:
    """{view: [feature]} of a feature service in a recorded layout, with one `(view, feature)` more."""
    views = {view: list(features) for view, features in layout["feature_services"][service].items()}
    wanted = views.setdefault(extra[0], [])
    if extra[1] not in wanted:
        wanted.append(extra[1])
    return views


class StoreFile:
    """A SQLite generation's online-store file as serving reads it: one read-only connection (its page cache
    holding the store) used by one thread at a time, the entity keys of the tickers asked for, and the plain
    values decoded so far (`known`, by whatever key the caller reads them by: their decoding depends on their
    bytes alone)."""

    def __init__(self, settings: Settings, generation: Generation) -> None:
        layout = generation.online_layout
        self._version = int(layout["entity_key_serialization_version"])
        path = (generation.path(settings.feast_dir) / layout["online_store_file"]).resolve()
        self._connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        self._connection.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}
        self.known: dict[object, object] = {}

    def key(self, ticker: str) -> bytes:
        """The ticker's serialized entity key (made once)."""
        key = self._keys.get(ticker)
        if key is None:
            key = self._keys[ticker] = entity_key(ticker, self._version)
        return key

    def fetchall(self, query: str, parameters: list[bytes]) -> list[Any]:
        """The rows of `query` (one thread at a time on the connection)."""
        with self._lock:
            return self._connection.execute(query, parameters).fetchall()

    def decode(self, known_as: object, raw: bytes, value_type: str) -> object:
        """A serialized value, remembered in `known` as `known_as` where it is plain (at most KNOWN_VALUES
        remembered); any other kind by Feast's decoder as `value_type`."""
        value = plain_value(raw)
        if value is OTHER:
            return feast_value(raw, value_type)
        if len(self.known) >= KNOWN_VALUES:
            self.known.clear()
        self.known[known_as] = value
        return value


class SqliteRows:
    """The requested features' rows of a SQLite generation, read with sqlite3 in one query over the views'
    tables and decoded without Feast."""

    def __init__(self, settings: Settings, generation: Generation, extra: tuple[str, str]) -> None:
        layout = generation.online_layout
        if not layout.get("online_store_file"):
            raise LayoutMissingError(
                f"the published generation {generation.generation_id} was materialized by an older ivcrush and "
                "does not record its online-store layout; re-run `ivcrush materialize` (as of the day you serve)"
            )
        self.views = requested_features(layout, generation.feature_service, extra)
        self.types = {f: layout["views"][view]["features"][f] for view, names in self.views.items() for f in names}
        self._tables = [layout["views"][view]["table"] for view in self.views]
        self._wanted = [set(names) for names in self.views.values()]
        self._store = StoreFile(settings, generation)

    def rows(self, tickers: list[str]) -> Rows:
        """{ticker: {feature: value}} of distinct tickers (a feature without a value, or a ticker without any:
        absent)."""
        store = self._store
        keys = {store.key(t): t for t in tickers}
        marks = ",".join("?" * len(keys))
        # one row per (view, ticker): the names and hex values of its features with a value (an empty ValueProto,
        # about half of them here, is None: left out, as a feature without a row), in the same order (both
        # aggregates step through the same rows); sqlite3 costs about 1 us per row returned, ten times a decoding
        query = " UNION ALL ".join(
            f"SELECT {i}, entity_key, group_concat(feature_name, char({ord(NAME_SEPARATOR)})), "
            f"group_concat(hex(value), ',') FROM \"{table}\" WHERE entity_key IN ({marks}) AND length(value) > 0 "
            "GROUP BY entity_key"
            for i, table in enumerate(self._tables)
        )
        fetched = store.fetchall(query, list(keys) * len(self._tables))
        wanted, rows, known = self._wanted, Rows(), store.known.get
        for view, key, names, values in fetched:
            row, wanted_here = rows.setdefault(keys[key], {}), wanted[view]
            for feature, hexed in zip(names.split(NAME_SEPARATOR), values.split(","), strict=True):
                if feature in wanted_here:
                    value = known(hexed, OTHER)  # most values repeat: one look-up instead of a decoding
                    if value is OTHER:
                        value = store.decode(hexed, bytes.fromhex(hexed), self.types[feature])
                    row[feature] = value
        return rows


class RedisRows:
    """The requested features' rows of a Redis generation, through Feast's own Redis online store (the views
    resolved from the generation's registry once)."""

    def __init__(self, settings: Settings, generation: Generation, extra: tuple[str, str]) -> None:
        store = open_published_store(settings, generation)
        service = store.get_feature_service(generation.feature_service)
        self._config = store.config
        self._online_store = store._get_provider().online_store
        self.views: dict[str, list[str]] = {}
        self.types: dict[str, str] = {}
        self._views: dict[str, FeatureView] = {}
        requested = [(p.name, [f.name for f in p.features]) for p in service.feature_view_projections]
        for name, features in [*requested, (extra[0], [extra[1]])]:
            view = self._views.setdefault(name, store.get_feature_view(name))
            names = self.views.setdefault(name, [])
            names.extend(f for f in features if f not in names)
            dtypes = {field.name: field.dtype.to_value_type().name for field in view.features}
            self.types.update({feature: dtypes[feature] for feature in features})

    def rows(self, tickers: list[str]) -> Rows:
        """{ticker: {feature: value}} of distinct tickers (a ticker without rows: absent)."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type
        from feast.value_type import ValueType

        keys = [EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=t)]) for t in tickers]
        rows: Rows = {}
        for name, features in self.views.items():
            # Feast's online_read appends to the list of features it is given: a copy
            read = self._online_store.online_read(self._config, self._views[name], keys, list(features))
            for ticker, (_, row) in zip(tickers, read, strict=True):
                for feature in features:
                    proto = row.get(feature) if row else None
                    kind = None if proto is None else proto.WhichOneof("val")
                    if kind in PLAIN_KINDS:
                        rows.setdefault(ticker, {})[feature] = getattr(proto, kind)
                    elif proto is not None:
                        value_type = ValueType[self.types[feature]]
                        rows.setdefault(ticker, {})[feature] = feast_value_type_to_python_type(proto, value_type)
        return rows

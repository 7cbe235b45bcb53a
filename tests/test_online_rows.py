"""The Feast-free decoding of Feast's SQLite online rows equals Feast's own: the entity keys it looks rows up by
and the values it decodes (the plain kinds itself, any other kind through Feast's decoder)."""

from __future__ import annotations

import math
import sqlite3
import warnings
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import DoubleList, Null, Value
from feast.type_map import feast_value_type_to_python_type
from feast.value_type import ValueType

from ivcrush.serving import online_rows
from ivcrush.serving.online_rows import OTHER, SqliteRows, entity_key, feast_value, plain_value
from ivcrush.settings import Settings
from ivcrush.workspace import Generation

PLAIN = [
    (Value(double_val=2.5), "DOUBLE"),
    (Value(double_val=0.0), "DOUBLE"),
    (Value(double_val=-0.0), "DOUBLE"),
    (Value(double_val=-1e300), "DOUBLE"),
    (Value(double_val=math.inf), "DOUBLE"),
    (Value(double_val=math.nan), "DOUBLE"),
    (Value(float_val=0.1), "FLOAT"),
    (Value(float_val=-3.25), "FLOAT"),
    (Value(int64_val=0), "INT64"),
    (Value(int64_val=1), "INT64"),
    (Value(int64_val=300), "INT64"),
    (Value(int64_val=-1), "INT64"),
    (Value(int64_val=2**63 - 1), "INT64"),
    (Value(int64_val=-(2**63)), "INT64"),
    (Value(int32_val=-7), "INT32"),
    (Value(int32_val=2**31 - 1), "INT32"),
    (Value(int32_val=-(2**31)), "INT32"),
    (Value(string_val=""), "STRING"),
    (Value(string_val="ASO_2025-12-09"), "STRING"),
    (Value(string_val="Ünïcødé " * 40), "STRING"),  # a length of two varint bytes
    (Value(bool_val=True), "BOOL"),
    (Value(bool_val=False), "BOOL"),
    (Value(), "DOUBLE"),  # no value set: None
]
OTHERS = [
    (Value(unix_timestamp_val=1_700_000_000), "UNIX_TIMESTAMP"),
    (Value(double_list_val=DoubleList(val=[1.0, 2.0])), "DOUBLE_LIST"),
    (Value(null_val=Null.NULL), "DOUBLE"),
    (Value(bytes_val=b"\x00\x01"), "BYTES"),
]


def _same(mine: object, theirs: object) -> bool:
    if isinstance(mine, float) and isinstance(theirs, float) and math.isnan(theirs):
        return math.isnan(mine)
    return type(mine) is type(theirs) and mine == theirs and str(mine) == str(theirs)  # -0.0 keeps its sign


@pytest.mark.parametrize(("proto", "kind"), PLAIN, ids=[f"{k}:{p}".strip() for p, k in PLAIN])
def test_plain_values_decode_as_feast_decodes_them(proto: Value, kind: str) -> None:
    raw = proto.SerializeToString()
    theirs = feast_value_type_to_python_type(Value.FromString(raw), ValueType[kind])
    assert _same(plain_value(raw), theirs), (raw, theirs)


@pytest.mark.parametrize(("proto", "kind"), OTHERS, ids=[k for _, k in OTHERS])
def test_other_kinds_go_to_feasts_decoder(proto: Value, kind: str) -> None:
    raw = proto.SerializeToString()
    assert plain_value(raw) is OTHER
    theirs = feast_value_type_to_python_type(Value.FromString(raw), ValueType[kind])
    assert feast_value(raw, kind) == theirs


@pytest.mark.parametrize(
    "raw",
    [
        b"\x29\x00\x00",  # a double cut short
        b"\x20\xff",  # a varint cut short
        b"\x12\x05abc",  # a string shorter than its length
        b"\x12\x02\xff\xfe",  # not UTF-8
        Value(double_val=1.0).SerializeToString() + Value(int64_val=2).SerializeToString(),  # two fields
    ],
)
def test_anything_unusual_is_left_to_feast(raw: bytes) -> None:
    assert plain_value(raw) is OTHER


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("ticker", ["AAPL", "BRK.B", "Ü", "X" * 300])
def test_entity_keys_are_the_bytes_feast_serializes(ticker: str, version: int) -> None:
    key = EntityKey(join_keys=["ticker"], entity_values=[Value(string_val=ticker)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Feast warns that version 2 is deprecated
        assert entity_key(ticker, version) == serialize_entity_key(key, entity_key_serialization_version=version)


FEAST_TABLE = (
    "CREATE TABLE {} (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, vector_value BLOB, "
    "event_ts timestamp, created_ts timestamp, PRIMARY KEY(entity_key, feature_name))"
)


def _sqlite_rows(tmp_path: Path) -> SqliteRows:
    """Rows in Feast's SQLite table layout: AAPL in views a and b, MSFT in b, NONE without values in a; the
    service asks for x, n, ts of a (plus b's event_id)."""
    settings = Settings(workdir=tmp_path / "work")
    generation = Generation("g1", "p", "b1", "", "svc", "2025-01-02", "", "sqlite", 2, "now")
    folder = generation.path(settings.feast_dir)
    folder.mkdir(parents=True)
    stored = {
        ("p_a", "AAPL"): {"x": Value(double_val=1.5), "n": Value(), "ts": Value(unix_timestamp_val=5), "y": Value()},
        ("p_b", "AAPL"): {"event_id": Value(string_val="AAPL:1"), "x": Value(double_val=2.0)},
        ("p_b", "MSFT"): {"event_id": Value(string_val="MSFT:1"), "x": Value(double_val=3.0)},
        ("p_a", "NONE"): {"x": Value(), "n": Value()},  # rows without a value: as no rows
    }
    with sqlite3.connect(folder / "online.db") as db:
        for table in ("p_a", "p_b"):
            db.execute(FEAST_TABLE.format(table))
        for (table, ticker), values in stored.items():
            key = serialize_entity_key(EntityKey(join_keys=["ticker"], entity_values=[Value(string_val=ticker)]))
            for name, value in values.items():
                db.execute(
                    f"INSERT INTO {table} VALUES (?, ?, ?, NULL, NULL, 0, 0)", (key, name, value.SerializeToString())
                )
    db.close()
    views = {
        "a": {"table": "p_a", "features": {"x": "DOUBLE", "n": "DOUBLE", "ts": "UNIX_TIMESTAMP", "y": "DOUBLE"}},
        "b": {"table": "p_b", "features": {"event_id": "STRING", "x": "DOUBLE"}},
    }
    layout = {
        "online_store_file": "online.db",
        "entity_key_serialization_version": 3,
        "views": views,
        "feature_services": {"svc": {"a": ["x", "n", "ts"]}},
    }
    return SqliteRows(settings, replace(generation, online_layout=layout), ("b", "event_id"))


def _expected() -> dict[str, dict[str, object]]:
    timestamp = feast_value(Value(unix_timestamp_val=5).SerializeToString(), "UNIX_TIMESTAMP")
    return {
        "AAPL": {"x": 1.5, "ts": timestamp, "event_id": "AAPL:1"},  # n: no value
        "MSFT": {"event_id": "MSFT:1"},
    }


def test_sqlite_rows_read_the_requested_features_of_each_view(tmp_path: Path) -> None:
    """Only the service's features of each view (`x` of view a, not the `x` of view b), a value without a kind
    is left out (None to a reader), another kind goes to Feast's decoder, a ticker without rows is absent."""
    rows = _sqlite_rows(tmp_path)
    assert rows.types == {"x": "DOUBLE", "n": "DOUBLE", "ts": "UNIX_TIMESTAMP", "event_id": "STRING"}
    assert rows.rows(["AAPL", "MSFT", "NONE", "ZZZZ"]) == _expected()


@pytest.mark.parametrize("known_values", [2, 100_000])
def test_remembered_values_read_as_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known_values: int) -> None:
    """Read again (plain values remembered by their hex, the memory emptied when full), in another order and
    one at a time, the rows are the same; a kind left to Feast's decoder is decoded anew each time."""
    monkeypatch.setattr(online_rows, "KNOWN_VALUES", known_values)
    rows = _sqlite_rows(tmp_path)
    for _ in range(3):
        assert rows.rows(["ZZZZ", "MSFT", "NONE", "AAPL"]) == _expected()
        assert rows.rows(["MSFT"]) == {"MSFT": _expected()["MSFT"]}
        assert len(rows._store.known) <= known_values
    assert all(value is not OTHER for value in rows._store.known.values())
    assert not any(isinstance(value, datetime) for value in rows._store.known.values())

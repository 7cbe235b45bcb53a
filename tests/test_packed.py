"""The packed view (one online row per ticker) serves exactly what the per-feature views serve: for every ticker of a
generation (generated data, the real snapshot; SQLite and a real Redis) the same values, None/NaN and types, and
the reader's records bit for bit; a generation without it is read from the per-feature views; its layout derives
from the one feature list; its source refuses marts it cannot pack."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast.protos.feast.types.Value_pb2 import DoubleList, FloatList, Value
from google.protobuf.message import DecodeError

from ivcrush.feature_repo import FEAST_TYPECHECKS_ENV
from ivcrush.feature_repo.feature_names import FEATURE_NAMES, MODEL_FEATURE_COLUMNS
from ivcrush.feature_repo.generations import unchanged_generation
from ivcrush.feature_repo.materialize import materialize
from ivcrush.feature_repo.packed import EVENT_CHECK, PACKED_VALUES, packed_layout
from ivcrush.feature_repo.packed_source import PackedSourceError, write_packed_source
from ivcrush.serving.online import OnlineReader, calendar_events
from ivcrush.serving.online_packed import (
    PackedLayoutError,
    PackedRedisRows,
    PackedRows,
    PackedSqliteRows,
    array_head,
    packed_vector,
)
from ivcrush.serving.online_rows import RedisRows, SqliteRows
from ivcrush.settings import Settings
from ivcrush.workspace import Generation, published
from tests.redis_server import redis_server


def _workspace_copy(settings: Settings, target: Path, **changes: object) -> Settings:
    """A private copy of a built workspace without its feature store (the builds shared by absolute path)."""
    shutil.copytree(settings.workdir, target, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    return replace(settings, workdir=target, **changes)


def _without_packed(generation: Generation) -> Generation:
    """The generation as an older ivcrush published it: no packed view in its layout."""
    return replace(generation, online_layout={k: v for k, v in generation.online_layout.items() if k != "packed"})


def _same_value(mine: object, theirs: object) -> bool:
    if isinstance(theirs, float) and math.isnan(theirs):
        return isinstance(mine, float) and math.isnan(mine)
    return type(mine) is type(theirs) and mine == theirs and str(mine) == str(theirs)


def _assert_same_rows(packed: dict[str, dict[str, object]], per_feature: dict[str, dict[str, object]]) -> None:
    """The same tickers, each with the same features (a feature without a value: absent or None in both)."""
    assert set(packed) == set(per_feature)
    for ticker, row in per_feature.items():
        present = {f: v for f, v in row.items() if v is not None}
        assert set(packed[ticker]) == set(present), ticker
        assert all(_same_value(packed[ticker][f], v) for f, v in present.items()), ticker


def _assert_same_records(packed: OnlineReader, per_feature: OnlineReader, events: pd.DataFrame) -> None:
    """`feature_records` and `feature_record` give the same records (keys in order, values and their types, NaN
    where missing) and the numbers bit for bit."""
    calendar = {c: events[c].to_numpy(dtype=object) for c in events.columns}
    outputs = []
    for reader in (packed, per_feature):
        records, numbers = reader.feature_records(calendar)
        one = [reader.feature_record({c: calendar[c][i] for c in calendar}) for i in range(len(events))]
        outputs.append((records + one, numbers.tobytes()))
    (mine, my_numbers), (theirs, their_numbers) = outputs
    assert my_numbers == their_numbers
    assert len(mine) == len(theirs) == 2 * len(events)
    for my_record, their_record in zip(mine, theirs, strict=True):
        assert list(my_record) == list(their_record)
        assert all(_same_value(my_record[k], v) for k, v in their_record.items()), their_record["ticker"]


def _assert_packed_equals_per_feature(settings: Settings) -> None:
    """For every ticker of the generation (and two never materialized): the packed rows equal the per-feature
    rows, and the reader gives the same frame, records and numbers (bit for bit) by either."""
    generation = published(settings)
    events = calendar_events(generation)
    tickers = [*sorted(events["ticker"].unique()), "ZZZZ", "AAPL"]
    packed_reader, old_reader = OnlineReader(settings, generation), OnlineReader(settings, _without_packed(generation))
    assert isinstance(packed_reader._rows, PackedRows)
    assert isinstance(old_reader._rows, SqliteRows | RedisRows)
    assert packed_reader._rows.types == old_reader._rows.types
    distinct = sorted(set(tickers))
    packed, per_feature = packed_reader._rows.rows(distinct), old_reader._rows.rows(distinct)
    assert sum(EVENT_CHECK[1] in row for row in per_feature.values()) > 10  # values were read
    _assert_same_rows(packed, per_feature)
    int_features = [f for f, kind in packed_reader._rows.types.items() if kind == "INT64"]
    assert any(isinstance(row.get(f), int) for row in packed.values() for f in int_features)
    assert any(f not in row for row in packed.values() for f in packed_reader.numeric)  # missing values too
    pd.testing.assert_frame_equal(packed_reader.read(tickers), old_reader.read(tickers))
    end = pd.Timestamp(generation.materialized_until)
    served = events[events["event_timestamp"] <= end].sort_values("event_timestamp").groupby("ticker").tail(1)
    served = served[served["event_timestamp"] > end - pd.Timedelta(days=120)].reset_index(drop=True)
    held = [ticker for ticker, row in per_feature.items() if any(v is not None for v in row.values())]
    assert len(served) == len(held) and len(served) > 10  # Redis gives a ticker it does not hold: all None
    pd.testing.assert_frame_equal(packed_reader.features(served), old_reader.features(served))
    _assert_same_records(packed_reader, old_reader, served)
    repeated = pd.concat([served.head(3), served.head(2)], ignore_index=True)  # a ticker twice: read once
    _assert_same_records(packed_reader, old_reader, repeated)


@pytest.fixture(scope="module")
def published_sample(built_sample: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = _workspace_copy(built_sample, tmp_path_factory.mktemp("packed") / "work")
    materialize(settings, date(2025, 7, 1))
    return settings


def test_the_packed_rows_equal_the_per_feature_rows_on_the_sample(published_sample: Settings) -> None:
    _assert_packed_equals_per_feature(published_sample)


def test_the_packed_rows_equal_the_per_feature_rows_in_redis(published_sample: Settings, tmp_path: Path) -> None:
    sqlite = OnlineReader(published_sample, published(published_sample))
    with redis_server() as url:
        settings = _workspace_copy(published_sample, tmp_path / "work", online_store="redis", redis_url=url)
        materialize(settings, date(2025, 7, 1))
        assert isinstance(OnlineReader(settings, published(settings))._rows, PackedRedisRows)
        _assert_packed_equals_per_feature(settings)
        tickers = sorted(calendar_events(published(settings))["ticker"].unique())
        redis = OnlineReader(settings, published(settings))
        from_redis, from_sqlite = redis.read(tickers), sqlite.read(tickers)
        pd.testing.assert_frame_equal(from_redis, from_sqlite[from_redis.columns])


@pytest.mark.real_snapshot
def test_the_packed_rows_equal_the_per_feature_rows_on_the_real_snapshot(built_real: Settings, tmp_path: Path) -> None:
    settings = _workspace_copy(built_real, tmp_path / "work")
    materialize(settings, date(2025, 12, 9))
    assert isinstance(OnlineReader(settings, published(settings))._rows, PackedSqliteRows)
    _assert_packed_equals_per_feature(settings)


def test_a_generation_without_the_packed_view_is_read_per_feature_and_made_again(
    published_sample: Settings, tmp_path: Path
) -> None:
    """An older generation (no packed view) is served from the per-feature views, the same records; the main
    job's materialize (`reuse`) does not reuse it but makes one with the packed view."""
    day = date(2025, 7, 1)
    assert unchanged_generation(published_sample, day) == published(published_sample)
    settings = replace(published_sample, workdir=tmp_path / "work")
    shutil.copytree(published_sample.workdir, settings.workdir, symlinks=True)
    pointer = settings.feast_dir / "current.json"
    old = _without_packed(published(settings))
    pointer.write_text(json.dumps({**json.loads(pointer.read_text()), "online_layout": old.online_layout}))
    assert unchanged_generation(settings, day) is None
    reader = OnlineReader(settings, published(settings))
    assert isinstance(reader._rows, SqliteRows)
    events = calendar_events(old)
    tickers = sorted(events["ticker"].unique())
    expected = OnlineReader(published_sample, published(published_sample)).read(tickers)
    pd.testing.assert_frame_equal(reader.read(tickers), expected)
    remade = materialize(settings, day, reuse=True)
    assert remade.generation_id != old.generation_id and "packed" in remade.online_layout
    assert isinstance(OnlineReader(settings, published(settings))._rows, PackedSqliteRows)


def test_a_packed_row_of_another_length_than_its_layout_is_refused(published_sample: Settings, tmp_path: Path) -> None:
    settings = replace(published_sample, workdir=tmp_path / "work")
    shutil.copytree(published_sample.workdir, settings.workdir, symlinks=True)
    generation = published(settings)
    layout = generation.online_layout
    table = layout["views"][layout["packed"]["view"]]["table"]
    short = Value(double_list_val=DoubleList(val=[1.0, 2.0])).SerializeToString()
    with sqlite3.connect(generation.path(settings.feast_dir) / layout["online_store_file"]) as db:
        db.execute(f'UPDATE "{table}" SET value = ? WHERE feature_name = ?', (short, PACKED_VALUES))
    db.close()
    events = calendar_events(generation)
    with pytest.raises(PackedLayoutError, match=r"holds 2 values, its layout \d+; re-run `ivcrush materialize`"):
        OnlineReader(settings, generation).read(sorted(events["ticker"].unique()))


def test_the_layout_derives_from_the_feature_list() -> None:
    """Every model feature once, in the one list's order, the numbers in the array and the strings apart; the
    event check's id among the strings."""
    layout = packed_layout()
    kinds = {name: kind for features in FEATURE_NAMES.values() for name, kind in features}
    assert [n for n in MODEL_FEATURE_COLUMNS if kinds[n] != "string"] == layout["numbers"]
    assert layout["texts"] == [n for n in MODEL_FEATURE_COLUMNS if kinds[n] == "string"] + [EVENT_CHECK[1]]
    assert layout["values"] == PACKED_VALUES


@pytest.mark.parametrize("count", [0, 1, 15, 16, 126, 2000, 20000])
def test_arrays_decode_as_feast_serializes_them(count: int) -> None:
    values = np.random.default_rng(count).normal(size=count)
    values[::3] = math.nan
    raw = Value(double_list_val=DoubleList(val=values.tolist())).SerializeToString()
    if count:  # the head every array of the layout's length has (an empty one serializes without it)
        assert raw.startswith(array_head(count)) and len(raw) == len(array_head(count)) + 8 * count
    decoded = packed_vector(raw)
    assert decoded is not None and decoded.tobytes() == values.tobytes()


def test_an_unusual_array_goes_to_feasts_decoder_and_no_value_is_none() -> None:
    assert packed_vector(b"") is None
    assert packed_vector(Value().SerializeToString()) is None
    cut = Value(double_list_val=DoubleList(val=[1.0, 2.0])).SerializeToString()[:5]
    with pytest.raises(DecodeError):  # Feast's decoder refuses it
        packed_vector(cut)
    floats = Value(float_list_val=FloatList(val=[1.5])).SerializeToString()  # another kind: Feast decodes it
    decoded = packed_vector(floats)
    assert decoded is not None and decoded.tolist() == [1.5]


def _marts(folder: Path, **changes: object) -> Path:
    """Marts of two events in every served view (each in its own row order), with `changes` to the calendar."""
    folder.mkdir()
    keys = {
        "event_id": ["A:1", "B:1"],
        "ticker": ["A", "B"],
        "event_timestamp": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
    }
    for view, features in FEATURE_NAMES.items():
        frame = pd.DataFrame(keys)
        for name, kind in features:
            if name == "event_id":
                continue
            frame[name] = ["x", "y"] if kind == "string" else ([1, None] if kind == "int" else [0.5, None])
        if view == "calendar_features":
            frame = frame.assign(**changes)
        ordered = frame.iloc[::-1] if view == "volatility_features" else frame  # another row order
        pq.write_table(pa.Table.from_pandas(ordered, preserve_index=False), folder / f"{view}.parquet")
    return folder


def test_the_source_packs_the_marts_by_event(tmp_path: Path) -> None:
    write_packed_source(_marts(tmp_path / "marts"), tmp_path / "packed.parquet")
    table = pq.read_table(tmp_path / "packed.parquet").to_pandas()
    assert table["event_id"].tolist() == ["A:1", "B:1"]
    layout = packed_layout()
    first = dict(zip(layout["numbers"], table[PACKED_VALUES].iloc[0].tolist(), strict=True))
    kinds = {name: kind for features in FEATURE_NAMES.values() for name, kind in features}
    assert all(first[n] == (1.0 if kinds[n] == "int" else 0.5) for n in layout["numbers"])
    assert np.isnan(table[PACKED_VALUES].iloc[1]).all()  # NULL: NaN (a null would be 0.0 to Feast)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ticker": ["A", "C"]}, "holds other events"),
        ({"cal_history_days": [2**53, 1]}, "not exact as a double"),
        ({"cal_history_days": [1, -(2**63)]}, "not exact as a double"),
        ({"event_id": ["A:1", "A:1"]}, "more than one row for an event_id"),
    ],
)
def test_the_source_refuses_marts_it_cannot_pack(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(PackedSourceError, match=message):
        write_packed_source(_marts(tmp_path / "marts", **changes), tmp_path / "packed.parquet")


_PROBE = """
from pathlib import Path
import feast
from ivcrush.feature_repo.features import packed_view
assert packed_view(Path("/tmp/generation")).name
try:
    feast.Entity(name=123, join_keys=["ticker"])
    print("unchecked")
except Exception as exc:
    print(type(exc).__name__)
"""


def test_the_packed_view_passes_feasts_runtime_type_checks() -> None:
    env = {**os.environ, FEAST_TYPECHECKS_ENV: "1"}
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "TypeCheckError"

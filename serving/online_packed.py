"""The online rows of a generation's packed view (`feature_repo.packed`: one row per ticker, the numeric
features in one DoubleList), decoded into what the per-feature views give (`rows`: an int feature as an int, a
NaN as no value) or straight into the reader's numeric block (`records`). SQLite rows are read with sqlite3 and
the array decoded with numpy (`packed_vector`), without Feast; Redis rows through Feast's own `online_read`.
tests/test_packed.py compares them with the per-feature views' rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.store import open_published_store
from ivcrush.serving.online_rows import (
    JOIN_KEY,
    OTHER,
    PLAIN_KINDS,
    Rows,
    StoreFile,
    feast_value,
    requested_features,
    varint,
)
from ivcrush.settings import Settings
from ivcrush.workspace import Generation

DOUBLE_LIST_TAG, LIST_VAL_TAG = 0x7A, 0x0A  # Value.double_list_val (field 15), DoubleList.val (field 1): packed
INT_TYPES = frozenset({"INT64", "INT32"})  # Feast value types an int of the packed array turns back into


class PackedLayoutError(IvcrushError):
    """A packed row does not hold the values its generation's layout records."""


@dataclass(frozen=True)
class Fetched:
    """The packed rows of some tickers: the arrays (one row each, `at` by ticker; a ticker without one is not
    there) and the texts of each ticker with a row."""

    at: dict[str, int]
    arrays: np.ndarray
    texts: dict[str, dict[str, object]]


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def array_head(count: int) -> bytes:
    """The bytes before the doubles of a serialized `ValueProto` holding a DoubleList of `count` values."""
    inner = bytes([LIST_VAL_TAG]) + _varint_bytes(8 * count)
    return bytes([DOUBLE_LIST_TAG]) + _varint_bytes(len(inner) + 8 * count) + inner


def packed_vector(raw: bytes) -> np.ndarray | None:
    """A serialized `ValueProto` holding a DoubleList as float64, None where no value is set; any other layout
    is decoded by Feast."""
    if not raw:
        return None
    try:
        if raw[0] == DOUBLE_LIST_TAG:
            size, at = varint(raw, 1)
            if size == 0 and at == len(raw):
                return np.empty(0)
            if at + size == len(raw) and raw[at] == LIST_VAL_TAG:
                size, at = varint(raw, at + 1)
                if at + size == len(raw) and size % 8 == 0:
                    return np.frombuffer(raw, dtype="<f8", count=size // 8, offset=at)
    except IndexError:
        pass
    decoded = feast_value(raw, "DOUBLE_LIST")
    return None if decoded is None else np.array(decoded, dtype="float64")


def packed_serves(generation: Generation, extra: tuple[str, str]) -> bool:
    """Whether the generation's packed view holds every feature its feature service (with `extra`) asks for."""
    layout = generation.online_layout
    packed = layout.get("packed")
    if not packed or not layout.get("feature_services"):
        return False
    held = {*packed["numbers"], *packed["texts"]}
    requested = requested_features(layout, generation.feature_service, extra)
    return all(held.issuperset(names) for names in requested.values())


class PackedRows:
    """The requested features of a generation's packed view (one row per ticker), as the per-feature views give
    them (`rows`) or as the reader's records and numeric block (`records`). Subclasses fetch the rows."""

    def __init__(self, generation: Generation, extra: tuple[str, str]) -> None:
        layout = generation.online_layout
        self.views = requested_features(layout, generation.feature_service, extra)
        self.types = {f: layout["views"][view]["features"][f] for view, names in self.views.items() for f in names}
        self.packed = layout["packed"]
        self._table = layout["views"][self.packed["view"]]["table"]
        self._texts = [f for f in self.packed["texts"] if f in self.types]
        self._fetched = [self.packed["values"], *self._texts]
        self._position = {name: i for i, name in enumerate(self.packed["numbers"])}
        self._count = len(self.packed["numbers"])
        self._generation_id = generation.generation_id
        self._numeric: tuple[list[str], list[int] | None] | None = None  # `_columns` of the last list asked for

    def _fetch(self, tickers: list[str]) -> Fetched:
        raise NotImplementedError

    def _stacked(self, vectors: dict[str, np.ndarray]) -> tuple[dict[str, int], np.ndarray]:
        """The vectors as rows of one block, checked to hold the recorded number of values."""
        wrong = [(ticker, len(vector)) for ticker, vector in vectors.items() if len(vector) != self._count]
        if wrong:
            raise PackedLayoutError(
                f"the packed row of {wrong[0][0]} in generation {self._generation_id} holds {wrong[0][1]} values, its "
                f"layout {self._count}; re-run `ivcrush materialize`"
            )
        at = {ticker: i for i, ticker in enumerate(vectors)}
        return at, np.stack(list(vectors.values())) if vectors else np.empty((0, self._count))

    def rows(self, tickers: list[str]) -> Rows:
        """{ticker: {feature: value}} of distinct tickers as the per-feature views give them: an int feature as an
        int, a NaN (no value) absent; a ticker without rows absent."""
        numbers = [(f, self._position[f], self.types[f] in INT_TYPES) for f in self.types if f in self._position]
        fetched = self._fetch(tickers)
        rows: Rows = {}
        for ticker, texts in fetched.texts.items():
            row = rows[ticker] = dict(texts)
            if ticker in fetched.at:
                values = fetched.arrays[fetched.at[ticker]].tolist()
                for feature, at, is_int in numbers:
                    value = values[at]
                    if not math.isnan(value):
                        row[feature] = int(value) if is_int else value
        return rows

    def records(self, tickers: list[str], numeric: list[str]) -> tuple[list[dict[str, object]], np.ndarray]:
        """Each ticker's texts ({} without a row) and the features `numeric` (tickers, numeric) as float64, NaN
        where missing, for the tickers as given."""
        fetched = self._fetch(sorted(set(tickers)))
        at = fetched.at
        if all(ticker in at for ticker in tickers):
            numbers = fetched.arrays[[at[ticker] for ticker in tickers]]
        else:  # a row of NaN for the tickers without an array
            arrays = np.vstack([fetched.arrays, np.full((1, self._count), math.nan)])
            numbers = arrays[[at.get(ticker, len(at)) for ticker in tickers]]
        columns = self._columns(numeric)
        if columns is not None:
            numbers = numbers[:, columns]
        empty: dict[str, object] = {}
        return [fetched.texts.get(ticker, empty) for ticker in tickers], numbers

    def _columns(self, numeric: list[str]) -> list[int] | None:
        """The packed positions of the features `numeric` (None: all of them, in order), found once per list (a
        reader asks with its own list every time)."""
        known = self._numeric
        if known is None or known[0] is not numeric:
            columns = [self._position[f] for f in numeric]
            known = self._numeric = (numeric, None if columns == list(range(self._count)) else columns)
        return known[1]


class PackedSqliteRows(PackedRows):
    """The packed rows of a SQLite generation, read with sqlite3 (one row per ticker and feature of the packed
    view), the arrays of all tickers decoded in one numpy view where they have the usual layout."""

    def __init__(self, settings: Settings, generation: Generation, extra: tuple[str, str]) -> None:
        super().__init__(generation, extra)
        self._store = StoreFile(settings, generation)
        self._head = array_head(self._count)
        self._size = len(self._head) + 8 * self._count
        # every feature of the packed view: it holds only what serving reads (a filter by name costs SQLite more)
        self._query = f'SELECT entity_key, feature_name, value FROM "{self._table}" WHERE entity_key IN '

    def _fetch(self, tickers: list[str]) -> Fetched:
        store = self._store
        keys = {store.key(t): t for t in tickers}
        fetched = store.fetchall(f"{self._query}({','.join('?' * len(keys))})", list(keys))
        values, wanted, known = self.packed["values"], set(self._texts), store.known.get
        raws: dict[str, bytes] = {}
        texts: dict[str, dict[str, object]] = {}
        for key, feature, raw in fetched:
            ticker = keys[key]
            row = texts.setdefault(ticker, {})
            if feature == values:
                if raw:  # no value: as no array
                    raws[ticker] = raw
            elif feature in wanted:
                value = known(raw, OTHER)  # an event's id is read on each of its requests: decoded once
                if value is OTHER:
                    value = store.decode(raw, raw, self.types[feature])
                if value is not None:
                    row[feature] = value
        head, size = self._head, self._size
        if all(len(raw) == size and raw.startswith(head) for raw in raws.values()):
            block = np.frombuffer(b"".join(raws.values()), dtype=np.uint8).reshape(len(raws), size)
            arrays = np.ascontiguousarray(block[:, len(head) :]).view("<f8")
            return Fetched({ticker: i for i, ticker in enumerate(raws)}, arrays, texts)
        vectors = {ticker: vector for ticker, raw in raws.items() if (vector := packed_vector(raw)) is not None}
        return Fetched(*self._stacked(vectors), texts)


class PackedRedisRows(PackedRows):
    """The packed rows of a Redis generation, through Feast's own Redis online store (`online_read` of the packed
    view, resolved from the generation's registry once)."""

    def __init__(self, settings: Settings, generation: Generation, extra: tuple[str, str]) -> None:
        super().__init__(generation, extra)
        if extra[1] not in generation.online_layout["feature_services"][generation.feature_service].get(extra[0], []):
            self.types[extra[1]] = self.types.pop(extra[1])  # last, in the order of `RedisRows.types`
        store = open_published_store(settings, generation)
        self._config = store.config
        self._online_store = store._get_provider().online_store
        self._view = store.get_feature_view(self.packed["view"])

    def _fetch(self, tickers: list[str]) -> Fetched:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type
        from feast.value_type import ValueType

        keys = [EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=t)]) for t in tickers]
        # Feast's online_read appends to the list of features it is given: a copy
        read = self._online_store.online_read(self._config, self._view, keys, list(self._fetched))
        vectors: dict[str, np.ndarray] = {}
        texts: dict[str, dict[str, object]] = {}
        for ticker, (_, row) in zip(tickers, read, strict=True):
            if not row:
                continue
            proto = row.get(self.packed["values"])
            if proto is not None and proto.WhichOneof("val") == "double_list_val":
                vectors[ticker] = np.fromiter(proto.double_list_val.val, dtype="float64")
            own = texts[ticker] = {}
            for feature in self._texts:
                text = row.get(feature)
                kind = None if text is None else text.WhichOneof("val")
                if text is None or kind is None:  # no value: absent, as a NaN of the array
                    continue
                if kind in PLAIN_KINDS:
                    own[feature] = getattr(text, kind)
                else:
                    own[feature] = feast_value_type_to_python_type(text, ValueType[self.types[feature]])
        return Fetched(*self._stacked(vectors), texts)

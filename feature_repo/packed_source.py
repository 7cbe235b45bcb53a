"""The packed view's offline source (`packed.py`): the served features of a build's marts, one row per event."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.packed import PACKED_VALUES, packed_layout, served_features

KEYS = ["ticker", "event_timestamp", "event_id"]  # the marts' row keys (event_id: one row per event)
EXACT_INT = 2**53  # ints below it in magnitude are exact as doubles


class PackedSourceError(IvcrushError):
    """The marts of a build cannot be packed into one row per event; the message names the mart."""


def _mart_table(marts_dir: Path, view: str, names: list[str]) -> pa.Table:
    """The mart's keys and `names`, its rows ordered by event."""
    table = pq.read_table(Path(marts_dir) / f"{view}.parquet", columns=[*KEYS, *(n for n in names if n not in KEYS)])
    if len(pc.unique(table["event_id"])) != len(table):
        raise PackedSourceError(f"mart {view}: more than one row for an event_id; cannot pack it by event")
    return table.take(pc.sort_indices(table["event_id"]))


def write_packed_source(marts_dir: Path, path: Path) -> None:
    """Write the packed view's offline source: one row per event of the marts (ticker, event_timestamp, event_id,
    the texts, and `PACKED_VALUES`: the numeric features as float64 in `packed_layout` order, NaN where NULL)."""
    layout = packed_layout()
    numbers, texts = set(layout["numbers"]), set(layout["texts"])
    keys: pa.Table | None = None
    columns: dict[str, np.ndarray] = {}
    text_columns: dict[str, pa.ChunkedArray] = {}
    for view, names in served_features().items():
        table = _mart_table(marts_dir, view, names)
        if keys is None:
            keys = table.select(KEYS)
        elif not table.select(KEYS).equals(keys):
            raise PackedSourceError(f"mart {view} holds other events (ticker, event_timestamp) than the other marts")
        for name in names:
            if name in texts:
                text_columns[name] = table[name]
            elif name in numbers:
                columns[name] = _doubles(view, name, table[name])
    assert keys is not None
    matrix = np.column_stack([columns[name] for name in layout["numbers"]]) if columns else np.empty((len(keys), 0))
    matrix[np.isnan(matrix)] = np.nan  # one NaN, bit for bit: the one a missing value reads as
    flat = pa.array(matrix.ravel(), type=pa.float64())  # NaN stays a value (a null would become 0.0 in Feast)
    values = pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1]).cast(pa.list_(pa.float64()))
    table = keys.select(["ticker", "event_timestamp"])
    for name in layout["texts"]:
        table = table.append_column(name, text_columns[name])
    pq.write_table(table.append_column(PACKED_VALUES, values), path)


def _doubles(view: str, name: str, column: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as float64, NaN where NULL; an int too large to be exact as a double is refused."""
    if pa.types.is_integer(column.type):
        inexact = [v for v in pc.min_max(column).as_py().values() if v is not None and abs(v) >= EXACT_INT]
        if inexact:
            raise PackedSourceError(f"mart {view}, column {name}: {inexact[0]} is not exact as a double: cannot pack")
    return np.asarray(column.cast(pa.float64()).to_numpy(), dtype="float64")

"""`OnlineReader._numbers`: the numeric features of decoded rows as float64, the very floats np.array makes of
them (absent and None: NaN; ints, bools, NaN as they convert), with or without a None among them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ivcrush.serving.online import OnlineReader

NUMERIC = ["a", "b", "c"]


def _reader() -> OnlineReader:
    reader = object.__new__(OnlineReader)  # only its numeric features' names are read
    reader._numeric = NUMERIC
    return reader


@pytest.mark.parametrize(
    "rows",
    [
        [{"a": 1.5, "b": 2**63 - 1, "c": True}, {"a": math.nan}, {}, {"b": -0.0, "c": 7, "x": "text"}],
        [{"a": 1.5, "b": None}, {"c": 3}],  # a None (as the Redis store gives a feature without a value)
        [],
    ],
)
def test_the_numeric_block_is_what_np_array_makes_of_the_rows(rows: list[dict[str, object]]) -> None:
    got = _reader()._numbers(rows)
    want = np.array([[row.get(f) for f in NUMERIC] for row in rows], dtype="float64").reshape(len(rows), 3)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()  # NaN and -0.0 bit for bit

"""`PackedRows.records`: each ticker's numbers as given (a NaN row for a ticker without an array), the features
asked for in their order, whether every ticker has an array or not, and the same list asked again (its positions
found once) or another."""

from __future__ import annotations

import math

import numpy as np

from ivcrush.serving.online_packed import Fetched, PackedRows

NUMBERS = ["a", "b", "c"]


class _Rows(PackedRows):
    def __init__(self) -> None:  # no generation: the layout's numbers and two tickers' arrays
        self._position = {name: i for i, name in enumerate(NUMBERS)}
        self._count = len(NUMBERS)
        self._numeric = None

    def _fetch(self, tickers: list[str]) -> Fetched:
        arrays = {"X": [1.0, -0.0, math.nan], "Y": [4.0, 5.0, 6.0]}
        held = [ticker for ticker in tickers if ticker in arrays]
        block = np.array([arrays[t] for t in held]).reshape(len(held), len(NUMBERS))
        return Fetched({t: i for i, t in enumerate(held)}, block, {t: {"event_id": t} for t in held})


def _expected(tickers: list[str], numeric: list[str]) -> np.ndarray:
    arrays = {"X": [1.0, -0.0, math.nan], "Y": [4.0, 5.0, 6.0]}
    rows = [[arrays.get(t, [math.nan] * 3)[NUMBERS.index(f)] for f in numeric] for t in tickers]
    return np.array(rows, dtype="float64").reshape(len(tickers), len(numeric))


def test_records_are_each_tickers_numbers_in_the_order_asked() -> None:
    rows = _Rows()
    every, some = list(NUMBERS), ["c", "a"]
    for numeric in (every, some, every, some):  # each list again: its positions kept, or another's found
        for tickers in (["Y", "X", "Y"], ["X", "Z", "Y"], ["Z"]):
            texts, numbers = rows.records(tickers, numeric)
            assert numbers.tobytes() == _expected(tickers, numeric).tobytes()
            assert texts == [{"event_id": t} if t in ("X", "Y") else {} for t in tickers]

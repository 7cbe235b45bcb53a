"""Parsing of request values: the API's dates and the market's served numbers."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from ivcrush.serving.http import BadRequestError, _day
from ivcrush.serving.market import number_or_none


@pytest.mark.parametrize("text", ["2025-10-30", "2024-02-29", "0001-01-01", "9999-12-31"])
def test_an_iso_day_parses_as_strptime_parses_it(text: str) -> None:
    assert _day(text, "--date") == datetime.strptime(text, "%Y-%m-%d").date()


@pytest.mark.parametrize("text", ["2025-1-5", "2025-01-5"])
def test_a_day_strptime_takes_without_padding_is_still_taken(text: str) -> None:
    assert _day(text, "--date") == datetime.strptime(text, "%Y-%m-%d").date() == date(2025, 1, 5)


@pytest.mark.parametrize("text", ["2025-13-01", "2025-02-30", "0000-01-01", "20251030", "2025-W44-4", "2025-10-30T00"])
def test_a_bad_day_is_refused_with_the_clis_wording(text: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        _day(text, "--date")
    assert str(refused.value) == (
        f"Invalid value for '--date': Value error, '{text}' does not match the formats '%Y-%m-%d'."
    )


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (None, None),
        (float("nan"), None),
        (np.nan, None),
        (np.float32(1.5), 1.5),
        ("x", None),
        (3, 3.0),
        (2.5, 2.5),
        ("4.5", 4.5),
    ],
)
def test_a_served_value_is_a_float_or_none(value: object, number: float | None) -> None:
    assert number_or_none(value) == number

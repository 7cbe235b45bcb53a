"""The serving forecasts' fast paths give what the paths they replace give: `forecasts.stale_days` on two
Timestamps (integer nanoseconds, no Timedelta) is pandas' `(a - b).total_seconds() / 86_400`, float for float."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivcrush.serving.forecasts import stale_days

UNITS = ("s", "ms", "us", "ns")
NANOSECONDS = st.integers(-(2**62), 2**62)  # within Timestamp's bounds in nanoseconds


def _stamp(nanoseconds: int, unit: str, tz: str | None) -> pd.Timestamp:
    return pd.Timestamp(nanoseconds, tz=tz).as_unit(unit)


@given(
    decided=NANOSECONDS,
    newest=NANOSECONDS,
    units=st.tuples(st.sampled_from(UNITS), st.sampled_from(UNITS)),
    tz=st.sampled_from([None, "UTC", "America/New_York"]),
)
def test_stale_days_of_timestamps_is_pandas_float_for_float(
    decided: int, newest: int, units: tuple[str, str], tz: str | None
) -> None:
    """Any units, negative and sub-microsecond durations, time zones: the float pandas' Timedelta gives."""
    a, b = _stamp(decided, units[0], tz), _stamp(newest, units[1], "UTC" if tz else None)
    expected = (a - b).total_seconds() / 86_400
    assert repr(stale_days(a, b)) == repr(expected)


def test_stale_days_keeps_pandas_for_other_values() -> None:
    """Unknown values give None; a date string is read by pandas; a naive and an aware Timestamp do not mix."""
    newest = pd.Timestamp("2025-06-27 20:00", tz="UTC")
    assert stale_days(None, newest) is None and stale_days(pd.NaT, newest) is None
    assert stale_days(pd.Timestamp("2025-07-01"), None) is None
    assert stale_days("2025-06-28 20:00+00:00", newest) == 1.0
    with pytest.raises(TypeError):
        stale_days(pd.Timestamp("2025-07-01"), newest)

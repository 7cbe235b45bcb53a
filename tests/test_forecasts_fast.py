"""The serving forecasts' fast paths give what the paths they replace give: `forecasts.stale_days` on two
Timestamps (integer nanoseconds, no Timedelta) is pandas' `(a - b).total_seconds() / 86_400`, float for float;
`EventForecast.of` is the dataclass its `__init__` makes; a scan's first quadrature nodes are kept uncopied; a
calendar column's items are what `list` gives; several forecasts' distribution is each one's."""

from __future__ import annotations

from datetime import date
from typing import cast

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.serving.forecasts import EventForecast, _items, stale_days
from ivcrush.serving.recommendation import ModelForecast, forecast_distribution, forecast_distributions
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import keep_quadrature_nodes, quadrature_nodes

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


def test_event_forecast_of_is_the_dataclass_made_by_its_init() -> None:
    """`EventForecast.of` sets every field `EventForecast(...)` sets (a new field not set there fails here)."""
    prediction = cast(ModelForecast, {"quantiles": {0.5: 3.0}, "tail_shape": 0.1, "tail_scale": 0.4})
    fields = ({"ticker": "AAA"}, prediction, date(2025, 10, 30), date(2025, 10, 31), 2.5, ("a note",), None)
    made, again = EventForecast.of(*fields), EventForecast(*fields)
    assert vars(made) == vars(again) and made == again
    assert made._nodes is not EventForecast.of(*fields)._nodes  # a list of its own


def test_kept_quadrature_nodes_of_a_read_only_array_are_that_array() -> None:
    """A scan's first nodes (one read-only (n, m) array) are kept as they are; rows given apart are stacked."""
    made = MoveDistribution(np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 3.0, 4.0, 5.0, 7.0]]), 0.1, 0.4)
    m = len(quadrature_nodes(MoveDistribution([1.0, 2.0, 3.0, 4.0, 5.0]))[1])  # the quadrature's nodes per event
    nodes = np.arange(2.0 * m).reshape(2, m)
    nodes.flags.writeable = False
    keep_quadrature_nodes(made, nodes)
    assert quadrature_nodes(made)[0] is nodes
    again = MoveDistribution(made.quantiles, 0.1, 0.4)
    keep_quadrature_nodes(again, list(nodes))
    kept = quadrature_nodes(again)[0]
    assert kept is not nodes and kept.tobytes() == nodes.tobytes() and not kept.flags.writeable


def test_items_of_a_calendar_column_are_what_list_gives() -> None:
    """Object columns through their numpy array, other columns as `list` gives them: the same items, types and
    objects."""
    frame = pd.DataFrame(
        {
            "ticker": ["AAA", "BB", None],
            "earnings_date": [date(2025, 10, 30), date(2025, 10, 31), None],
            "number": [1.5, float("nan"), 2.0],
            "stamp": pd.to_datetime(["2025-10-30 20:00", "2025-10-31 13:00", None], utc=True),
        }
    )
    for column in frame.columns:
        values = frame[column].array
        items, listed = _items(values), list(values)
        assert [type(item) for item in items] == [type(item) for item in listed], column
        assert all(a is b or a == b or (a != a and b != b) for a, b in zip(items, listed, strict=True)), column
    assert _items(["x", "y"]) == ["x", "y"]


def test_the_distribution_of_several_forecasts_is_each_forecasts_own() -> None:
    """`forecast_distributions` reads each forecast's quantiles by level (whatever their dict's order): event i
    has exactly `forecast_distribution(forecasts[i])`'s parameters."""
    rng = np.random.default_rng(3)
    forecasts = []
    for i in range(6):
        levels = list(QUANTILE_LEVELS)[::-1] if i % 2 else list(QUANTILE_LEVELS)
        values = dict(zip(QUANTILE_LEVELS, np.sort(rng.uniform(0.5, 9.0, len(QUANTILE_LEVELS))).tolist(), strict=True))
        quantiles = {level: values[level] for level in levels}
        forecasts.append(cast(ModelForecast, {"quantiles": quantiles, "tail_shape": 0.1 * i, "tail_scale": 0.4}))
    many = forecast_distributions(forecasts)
    for i, forecast in enumerate(forecasts):
        alone = forecast_distribution(forecast)
        for name in ("knots", "tail_shape", "tail_scale", "_slopes"):
            assert getattr(many, name)[i].tobytes() == getattr(alone, name)[0].tobytes(), (i, name)

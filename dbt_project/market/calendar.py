"""NYSE trading days in Python, from the same `market_holidays` seed the dbt build uses."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from ivcrush.settings import DBT_PROJECT_DIR

HOLIDAYS_SEED = DBT_PROJECT_DIR / "seeds" / "market_holidays.csv"


@cache
def _holidays() -> np.ndarray:
    return pd.read_csv(HOLIDAYS_SEED)["holiday_date"].to_numpy(dtype="datetime64[D]")


def trading_days(start: object, end: object) -> np.ndarray:
    """The trading days in [start, end] (dates in any form pandas reads; weekdays that are not full-day
    holidays), as datetime64[D]."""
    days = pd.date_range(start, end, freq="D").to_numpy(dtype="datetime64[D]")
    return days[np.is_busday(days, holidays=_holidays())]

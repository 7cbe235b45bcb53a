"""A backtest result as JSON: tables as lists of records, numbers as numbers, dates as ISO strings, and no
NaN or infinity (null: JSON has neither; an infinite profit factor means "no losing trade")."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """`value` with every DataFrame, Series, numpy and pandas scalar turned into plain JSON values."""
    if isinstance(value, pd.DataFrame):
        frame = value if isinstance(value.index, pd.RangeIndex) else value.rename_axis("row").reset_index()
        return [{str(k): jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value if isinstance(value, str) else str(value)


def result_json(result: dict) -> str:
    """The whole result as one valid JSON document."""
    return json.dumps(jsonable(result), allow_nan=False, indent=1)

"""The level the move-size quantile models are scaled by: they forecast |move| / s, then multiply back.

s is the event's trusted history level shrunk towards the training window's mean trusted move m:
s = (n x own + k x m) / (n + k), with own = the mean of the ticker's last 12 trusted moves
(`hm_close_mean_12q`), n = its number of prior trusted moves (`hm_prior_events`, at most 12, 0 where `own` is
missing) and k = `PRIOR_WEIGHT` pseudo-events. An event without trusted history gets m; one with a long
history mostly its own level. Trees then learn the shape of |move| / s, which varies far less across tickers
than |move| (chosen on inner folds of each training window: k = 8 and 50 rounds beat the unscaled target,
a log target and the unshrunk scale on the inner folds' mean pinball loss).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OWN_LEVEL = "hm_close_mean_12q"
PRIOR_COUNT = "hm_prior_events"
PRIOR_WEIGHT = 8.0
HISTORY_CAP = 12


def history_scale(events: pd.DataFrame, overall_mean: float, prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """s per event (see the module docstring); `overall_mean` is the training window's mean trusted |move|.
    Without the history columns an event counts as having no history."""
    return history_level(*history_columns(events), overall_mean, prior_weight)


def history_columns(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each event's own history level and number of prior trusted moves as float64 (NaN and 0 where the
    column is missing): what `history_level` reads."""
    return _column(events, OWN_LEVEL, np.nan), _column(events, PRIOR_COUNT, 0.0)


def history_level(
    own: np.ndarray, prior_count: np.ndarray, overall_mean: float, prior_weight: float = PRIOR_WEIGHT
) -> np.ndarray:
    """`history_scale` from the events' `history_columns`."""
    count = np.nan_to_num(prior_count)
    count = np.where(np.isnan(own) | (own <= 0), 0.0, np.minimum(count, HISTORY_CAP))
    return (count * np.nan_to_num(own) + prior_weight * overall_mean) / (count + prior_weight)


def _column(events: pd.DataFrame, name: str, missing: float) -> np.ndarray:
    if name not in events:
        return np.full(len(events), missing)
    column = events[name]
    if column.dtype == np.float64:  # serving's frames: nothing to convert
        return column.to_numpy(copy=True)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")

"""The calibration refreshed in the walk-forward as production refreshes it.

The main job retrains and recalibrates at every run, so the served calibration is always fitted on the latest
resolved events. A walk-forward fold trains once and then forecasts months of events: held still, its
calibration ages (the miscalibration drifts). So the evaluation re-fits each fold's calibrations (the model's
and the scaled-history reference's, `calibration.refit`) every `REFIT_DAYS` days from the fold's first decision:
the training window's out-of-fold slices plus the fold model's raw forecasts of the fold's events whose outcome
was known strictly before the re-fit time (`outcome_known_at`); each event is forecast with the latest re-fit at
or before its decision. The boosters are not retrained in between (the fold model forecasts the whole fold).

`REFIT_DAYS` was chosen on inner folds only (README, "Models and evidence").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.calibration import Calibration, refit
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.move_size import REFERENCE_NAMES
from ivcrush.training.predict import Predictor, confidence, prior_events
from ivcrush.training.train import MOVE_LABEL, scaled_quantiles

REFIT_DAYS = 1
# `calibration.refit`'s signature: (calibration, raw (n, 5) quantiles, moves, prior trusted moves, decision times)
Refit = Callable[[Calibration, np.ndarray, np.ndarray, np.ndarray, np.ndarray], Calibration]


def refit_times(start: pd.Timestamp, decided: pd.Series, days: int) -> pd.Series:
    """Each decision's re-fit time: the latest start + k x `days` (k >= 0) at or before it."""
    decided = pd.to_datetime(decided, utc=True)
    step = pd.Timedelta(days=days)
    periods = np.maximum(np.floor((decided - start) / step), 0)
    return start + periods * step


def refreshed_forecasts(
    models: Predictor,
    test: pd.DataFrame,
    predictions: pd.DataFrame,
    start: pd.Timestamp,
    days: int = REFIT_DAYS,
    trusted_only: bool = True,
    refit_with: Refit = refit,
) -> tuple[pd.DataFrame, int]:
    """`predictions` (`predict_frame` of `test`) with the model's and the reference's quantiles, tails, point
    and confidence from the calibrations re-fitted every `days` days from `start` (module docstring); and the
    number of distinct re-fits. Only labelled (by default trusted) events feed a re-fit. `refit_with`:
    `calibration.refit` or the same re-fit reused where kept (the main job's model cache)."""
    move_size = models.move_size
    raw = {
        "model": scaled_quantiles(dict(models.boosters), models.features, test, move_size.scale_mean),
        "reference": move_size.reference.quantiles(test),
    }
    calibrations = {"model": move_size.calibration, "reference": move_size.reference_calibration}
    y = pd.to_numeric(test[MOVE_LABEL], errors="coerce").to_numpy(dtype="float64")
    if trusted_only:
        y = np.where(test["label_trusted"].astype(bool).to_numpy(), y, np.nan)
    prior = prior_events(test)
    decided = pd.to_datetime(test["event_timestamp"], utc=True).to_numpy(dtype="datetime64[ns]")
    known = pd.to_datetime(test["outcome_known_at"], utc=True).to_numpy(dtype="datetime64[ns]")
    times = refit_times(start, test["event_timestamp"], days).to_numpy(dtype="datetime64[ns]")
    adjusted = {name: np.empty((len(test), len(QUANTILE_NAMES))) for name in raw}
    tails = {name: np.empty((len(test), 2)) for name in raw}
    fitted: dict[tuple[str, int], Calibration] = {}
    for time in np.unique(times):
        rows = times == time
        pool = (known < time) & ~np.isnan(y)
        for name in raw:
            key = (name, int(pool.sum()))  # the pool only grows with time: its size names it
            if key not in fitted:
                fitted[key] = refit_with(calibrations[name], raw[name][pool], y[pool], prior[pool], decided[pool])
            adjusted[name][rows] = fitted[key].adjust(raw[name][rows], prior[rows])
            tails[name][rows] = fitted[key].tail_shape, fitted[key].tail_scale
    distributions = {name: MoveDistribution(adjusted[name], tails[name][:, 0], tails[name][:, 1]) for name in raw}
    quantiles = {name: distribution.quantiles for name, distribution in distributions.items()}
    tails = {name: np.column_stack([d.tail_shape, d.tail_scale]) for name, d in distributions.items()}
    out = predictions.copy()
    out[list(QUANTILE_NAMES)] = quantiles["model"]
    out["tail_shape"], out["tail_scale"] = tails["model"][:, 0], tails["model"][:, 1]
    out["point"] = out["q50"]
    out["confidence"] = confidence(out["q10"], out["q50"], out["q90"])
    out[list(REFERENCE_NAMES)] = quantiles["reference"]
    out["ref_tail_shape"], out["ref_tail_scale"] = tails["reference"][:, 0], tails["reference"][:, 1]
    return out, len(fitted) // len(raw)

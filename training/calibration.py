"""Calibration of the move-size quantiles, fitted at every training on the training window alone.

The training window's latest `CALIBRATION_SLICES` slices (each `SLICE_SHARE` of its labelled rows, by
decision time) are each forecast by a model trained only on the outcomes known before that slice began
(`calibration_slices`). These out-of-fold forecasts of the most recent 30% and the realised moves give:

1. **Conformal shifts per quantile** (split-conformal in log space): the score of an event at level tau is
   log(y / q_tau); the shift c_tau is the order statistic k = round((n + 1) tau) of the scores (centred, not
   conservative: a new event falls below q_tau exp(c_tau) with probability k / (n + 1) ~ tau). The median is
   left alone (the point estimate). The shifts of the latest `RECENT_SHARE` of the window (the
   miscalibration drifts) are shrunk towards those of all the slices by n_recent / (n_recent +
   `POOLED_WEIGHT`). Per-quantile rather than nested-interval shifts: the model's q10 and q90 are not off by
   the same factor (its q10 sat too high while its q90 was about right), which a symmetric interval shift
   cannot repair.
2. **Thin-history widening** (Mondrian by prior trusted moves, `hm_prior_events`): events with 0 or 1-2
   prior trusted moves get their stratum's own nested-interval shifts on top (for the interval (q10, q90) the
   score is max(log(q10 / y), log(y / q90)), c80 its 0.8 order statistic; likewise (q25, q75)), computed on
   that stratum's events after step 1, only widening (c >= 0), shrunk towards 0 by n / (n +
   `STRATUM_SHRINKAGE`).
3. **Tail**: the exceedances of the realised move over the calibrated q90 (all the slices), in units of q90,
   z = (y - q90) / q90 for y > q90, get a generalized Pareto fit (maximum likelihood on a grid,
   0 <= xi <= `MAX_TAIL_SHAPE`); with fewer than `MIN_EXCEEDANCES` the default tail stays.

Production recalibrates at every (daily) training, so its calibration is always fitted on the latest resolved
events; `refit` re-fits a calibration from its in-memory out-of-fold sample plus newly resolved events, which is
how the walk-forward evaluation reproduces that within a fold (`training.recalibration`).

The design (per-quantile shifts, the latest 30% / 15%, re-fitted daily in the evaluation) was chosen on inner
folds: in each training window of `ivcrush evaluate --folds 3` and `--folds 4` (7 windows), its latest 30% was
forecast by a model trained on the outcomes known before it, calibrated as at a training and re-fitted every d
days; error = mean |coverage - 0.8| + |share below q10 - 0.1| + |share below q90 - 0.9| over the 7 windows:
per-quantile 30%/15% daily 0.033 (weekly 0.036, every 3 days 0.040, 30 days 0.047, held still 0.085);
per-quantile 60%/30% daily 0.043 (held still 0.073); nested intervals 60%/30% (the former design) daily 0.060,
held still 0.073; nested 30%/15% daily 0.059. Shorter windows and adaptive conformal updates (better shares,
worse pinball) were not adopted; `POOLED_WEIGHT` 300 and `STRATUM_SHRINKAGE` 100 were compared earlier the same
way (README, "Models and evidence").

`Calibration` is plain numbers (JSON with the model) and applies to any model's quantiles at predict time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.training.distribution import DEFAULT_TAIL_SCALE, DEFAULT_TAIL_SHAPE, MoveDistribution
from ivcrush.training.distribution_floats import MAX_TAIL_SHAPE

CALIBRATION_SLICES = 3
SLICE_SHARE = 0.1
RECENT_SHARE = 0.15  # the latest rows of the window whose shifts are the recent ones (step 1)
POOLED_WEIGHT = 300.0  # pseudo-events of the pooled shifts in the recent rows' (step 1)
MIN_CALIBRATION_ROWS = 40
STRATA: dict[str, tuple[float, float]] = {"0": (0, 0), "1-2": (1, 2), "3-5": (3, 5), "6+": (6, math.inf)}
THIN_STRATA = ("0", "1-2")
STRATUM_SHRINKAGE = 100.0
MIN_EXCEEDANCES = 8
MOVE_FLOOR = 0.01  # % : a zero move scores as this (log scores)
MOVE_LABEL = "abs_close_move_pct"
# (rows a model may train on, rows it forecasts) -> (n, 5) quantiles q10..q90 of the forecast rows
Forecast = Callable[[pd.DataFrame, pd.DataFrame], np.ndarray]


def history_stratum(prior_events: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """The prior-trusted-history stratum of each event: "0", "1-2", "3-5" or "6+" (missing counts as 0)."""
    count = _prior_counts(prior_events)
    out = np.empty(count.shape, dtype=object)
    for name in STRATA:
        out[_in_stratum(count, name)] = name
    return out


def _prior_counts(prior_events: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    return np.nan_to_num(np.asarray(prior_events, dtype="float64"), nan=0.0)


def _in_stratum(count: np.ndarray, name: str) -> np.ndarray:
    """The events of stratum `name` (`history_stratum(...) == name`) from `_prior_counts`."""
    low, high = STRATA[name]
    return (count >= low) & (count <= high)


def calibration_slices(
    decided_at: pd.Series,
    known_at: pd.Series,
    slices: int = CALIBRATION_SLICES,
    share: float = SLICE_SHARE,
) -> list[tuple[pd.Series, pd.Series]]:
    """(fit, forecast) masks over a training window's labelled rows, oldest slice first: the latest `slices`
    slices of `share` of the rows each by decision time, and for each the rows whose outcome was known
    strictly before the slice's first decision (what its out-of-fold model may train on)."""
    decided = pd.to_datetime(decided_at, utc=True)
    known = pd.to_datetime(known_at, utc=True)
    order = decided.sort_values(kind="mergesort")
    starts = [order.iloc[min(len(order) - 1, len(order) - round(len(order) * share * i))] for i in range(slices, 0, -1)]
    ends = [*starts[1:], None]
    return [
        (known < start, (decided >= start) & (decided < end if end is not None else True))
        for start, end in zip(starts, ends, strict=True)
    ]


def conformal_shift(scores: np.ndarray, level: float) -> float:
    """Split-conformal shift of one quantile: the k-th smallest score with k = round((n + 1) level); by
    exchangeability a new event falls below the shifted quantile with probability k / (n + 1) ~ level."""
    scores = np.sort(np.asarray(scores, dtype="float64"))
    if len(scores) == 0:
        return 0.0
    return float(scores[_order_index(len(scores), level)])


def _order_index(n: int, level: float) -> int:
    """The 0-based index of `conformal_shift`'s order statistic among n > 0 sorted scores."""
    return min(max(round((n + 1) * level), 1), n) - 1


def _scores(y: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(y, MOVE_FLOOR))[:, None] - np.log(np.maximum(quantiles, MOVE_FLOOR))


def _interval_shifts(scores: np.ndarray) -> np.ndarray:
    """Log shifts of q10..q90 from the scores log(y / q): the nested intervals' conformal shifts (step 2)."""
    levels = np.asarray(QUANTILE_LEVELS)
    shifts = np.zeros(len(levels))
    for low in range(len(levels) // 2):
        high = len(levels) - 1 - low
        outside = np.maximum(-scores[:, low], scores[:, high])
        c = conformal_shift(outside, levels[high] - levels[low])
        shifts[low], shifts[high] = -c, c
    return shifts


def _quantile_shifts(scores: np.ndarray) -> np.ndarray:
    """Log shifts of q10..q90 from the scores log(y / q): each quantile's own conformal shift, the median's 0
    (step 1)."""
    if len(scores) == 0:
        return np.zeros(len(QUANTILE_LEVELS))
    ordered = np.sort(scores, axis=0)  # each column sorted: its order statistics, as `conformal_shift`'s
    n = len(ordered)
    return np.array(
        [ordered[_order_index(n, level), j] if level != 0.5 else 0.0 for j, level in enumerate(QUANTILE_LEVELS)]
    )


def _shift(quantiles: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    return np.sort(quantiles * np.exp(shifts), axis=-1)


def _gpd_loglik(z: np.ndarray, shapes: np.ndarray, log_scales: np.ndarray) -> np.ndarray:
    """Log-likelihood of the excesses z on a grid (scale x shape): per cell -n log(sigma) minus the sum over z
    of (1 + 1 / xi) log1p(xi z / sigma), or of z / sigma where xi = 0. The positive shapes' terms are computed
    in one buffer, in place, and each cell's terms summed along z in order, as the plain formula sums them
    (the same bits: a test compares)."""
    sigma = np.exp(log_scales)[:, None, None]
    ratio = z[None, None, :] / sigma
    positive = shapes > 0
    xi = shapes[positive][None, :, None]
    log_term = np.multiply(xi, ratio)
    np.log1p(log_term, out=log_term)
    np.multiply(1 + 1 / xi, log_term, out=log_term)
    sums = np.empty((len(log_scales), len(shapes)))
    sums[:, positive] = log_term.sum(axis=2)
    sums[:, ~positive] = ratio.sum(axis=2)
    return -len(z) * np.log(sigma[:, :, 0]) - sums


_COARSE_SHAPES = np.linspace(0.0, MAX_TAIL_SHAPE, 19)
_COARSE_LOG_SCALES = np.linspace(math.log(0.02), math.log(5.0), 56)
_FINE_POINTS = 21


def fit_tail(exceedances: np.ndarray) -> tuple[float, float]:
    """Generalized Pareto (xi, sigma) of excesses z > 0 by maximum likelihood, 0 <= xi <= `MAX_TAIL_SHAPE`:
    a coarse grid, then a fine one around its best point (deterministic, no optimiser)."""
    z = np.asarray(exceedances, dtype="float64")
    z = z[np.isfinite(z) & (z > 0)]
    if len(z) < MIN_EXCEEDANCES:
        return DEFAULT_TAIL_SHAPE, DEFAULT_TAIL_SCALE
    return _fitted_tail(z.tobytes())


@lru_cache(maxsize=4096)  # the walk-forward's daily re-fits meet the same excesses again (~1 in 5)
def _fitted_tail(excesses: bytes) -> tuple[float, float]:
    z = np.frombuffer(excesses, dtype="float64")
    shape, log_scale = _grid_best(z, _COARSE_SHAPES, _COARSE_LOG_SCALES)
    shape_step, scale_step = _COARSE_SHAPES[1] - _COARSE_SHAPES[0], _COARSE_LOG_SCALES[1] - _COARSE_LOG_SCALES[0]
    shapes = np.clip(np.linspace(shape - shape_step, shape + shape_step, _FINE_POINTS), 0.0, MAX_TAIL_SHAPE)
    log_scales = np.linspace(log_scale - scale_step, log_scale + scale_step, _FINE_POINTS)
    shape, log_scale = _grid_best(z, shapes, log_scales)
    return round(float(shape), 4), round(float(math.exp(log_scale)), 4)


def _grid_best(z: np.ndarray, shapes: np.ndarray, log_scales: np.ndarray) -> tuple[float, float]:
    """The (shape, log scale) of the grid's largest log-likelihood (the first where tied)."""
    loglik = _gpd_loglik(z, shapes, log_scales)
    i, j = np.unravel_index(np.argmax(loglik), loglik.shape)
    return shapes[j], log_scales[i]


@dataclass
class CalibrationSample:
    """The out-of-fold rows a calibration was fitted on, oldest first: what a later re-fit (`refit`) adds the
    newly known outcomes to. Not stored in the registry (serving never re-fits); the main job's model cache
    keeps it (`training.fold_cache`, samples.npz)."""

    quantiles: np.ndarray  # (n, 5) raw forecasts q10..q90
    y: np.ndarray
    prior: np.ndarray
    decided_at: np.ndarray  # datetime64[ns], UTC
    window_rows: int  # the training window's labelled rows (the slices are shares of these)
    pooled_share: float = CALIBRATION_SLICES * SLICE_SHARE
    recent_share: float = RECENT_SHARE


@dataclass
class Calibration:
    """Conformal shifts (log multipliers per quantile), thin-stratum shifts and the fitted tail."""

    shifts: list[float] = field(default_factory=lambda: [0.0] * len(QUANTILE_LEVELS))
    stratum_shifts: dict[str, list[float]] = field(default_factory=dict)
    tail_shape: float = DEFAULT_TAIL_SHAPE
    tail_scale: float = DEFAULT_TAIL_SCALE
    fitted_on: dict[str, object] = field(default_factory=dict)
    sample: CalibrationSample | None = field(default=None, repr=False, compare=False)

    def adjust(self, quantiles: np.ndarray, prior_events: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
        """The calibrated (n, 5) quantiles: global shifts, then the thin strata's widening."""
        q = _shift(np.atleast_2d(np.asarray(quantiles, dtype="float64")), np.asarray(self.shifts))
        if prior_events is None or not self.stratum_shifts:
            return q
        return self._widen(q, _prior_counts(prior_events))

    def _widen(self, shifted: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The thin strata's widening of the globally shifted quantiles (in place), given `_prior_counts`."""
        for name, shifts in self.stratum_shifts.items():
            rows = _in_stratum(counts, name)
            shifted[rows] = _shift(shifted[rows], np.asarray(shifts))
        return shifted

    def distribution(
        self, quantiles: np.ndarray, prior_events: Sequence[float] | np.ndarray | None = None
    ) -> MoveDistribution:
        """The calibrated forecast distribution of each row."""
        return MoveDistribution(self.adjust(quantiles, prior_events), self.tail_shape, self.tail_scale)

    def to_dict(self) -> dict[str, object]:
        """The stored numbers (JSON); the in-memory sample is left out."""
        data = asdict(replace(self, sample=None))
        del data["sample"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Calibration:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})  # type: ignore[arg-type]


def fit_calibration(
    quantiles: np.ndarray,
    y: np.ndarray,
    prior_events: Sequence[float] | np.ndarray | None = None,
    *,
    recent: Sequence[bool] | np.ndarray | None = None,
    thin_strata: Sequence[str] = THIN_STRATA,
    shrinkage: float = STRATUM_SHRINKAGE,
    pooled_weight: float = POOLED_WEIGHT,
) -> Calibration:
    """Calibration from the out-of-fold (n, 5) quantiles and realised moves `y` of the calibration slices
    (and each event's prior trusted moves, for the thin-history widening). `recent` marks the latest rows
    (default: all rows); their shifts are shrunk towards all the rows' (step 1)."""
    q = np.sort(np.asarray(quantiles, dtype="float64"), axis=1)
    y = np.asarray(y, dtype="float64")
    keep = ~np.isnan(q).any(axis=1) & ~np.isnan(y)
    q, y = q[keep], y[keep]
    if len(y) < MIN_CALIBRATION_ROWS:
        return Calibration(fitted_on={"rows": len(y), "note": f"fewer than {MIN_CALIBRATION_ROWS} rows"})
    scores = _scores(y, q)
    latest = np.ones(len(y), dtype=bool) if recent is None else np.asarray(recent, dtype=bool)[keep]
    recent_shifts, pooled_shifts = _quantile_shifts(scores[latest]), _quantile_shifts(scores)
    recent_weight = latest.sum() / (latest.sum() + pooled_weight)
    shifts = recent_weight * recent_shifts + (1 - recent_weight) * pooled_shifts
    calibration = Calibration(shifts=shifts.round(6).tolist())
    strata_rows: dict[str, int] = {}
    q_final = calibration.adjust(q)
    if prior_events is not None:
        counts = _prior_counts(np.asarray(prior_events, dtype="float64")[keep])
        for name in thin_strata:
            rows = _in_stratum(counts, name)
            strata_rows[name] = int(rows.sum())
            if not rows.any():
                continue
            local_shifts = _interval_shifts(_scores(y[rows], q_final[rows]))
            widen = local_shifts * (np.asarray(QUANTILE_LEVELS) - 0.5) > 0  # lower ends down, upper ends up
            weight = rows.sum() / (rows.sum() + shrinkage)
            calibration.stratum_shifts[name] = (local_shifts * widen * weight + 0.0).round(6).tolist()
        q_final = calibration._widen(q_final, counts)  # = calibration.adjust(q, prior): its shift done once
    top = q_final[:, -1]
    over = y > top
    calibration.tail_shape, calibration.tail_scale = fit_tail((y[over] - top[over]) / top[over])
    calibration.fitted_on = {
        "rows": len(y),
        "recent_rows": int(latest.sum()),
        "recent_weight": round(float(recent_weight), 4),
        "recent_shifts": recent_shifts.round(6).tolist(),
        "pooled_shifts": pooled_shifts.round(6).tolist(),
        "exceedances": int(over.sum()),
        "thin_stratum_rows": strata_rows,
        "tail": "fitted" if over.sum() >= MIN_EXCEEDANCES else f"default: fewer than {MIN_EXCEEDANCES} exceedances",
    }
    return calibration


def calibrate_window(
    rows: pd.DataFrame,
    forecast: Forecast,
    *,
    slices: int = CALIBRATION_SLICES,
    recent_share: float = RECENT_SHARE,
    share: float = SLICE_SHARE,
    label: str = MOVE_LABEL,
) -> Calibration:
    """The calibration of one training window: `rows` are its labelled (trusted) rows with event_timestamp,
    outcome_known_at, `label` and hm_prior_events; `forecast` trains on its first argument only and returns
    the quantiles of its second (one call per slice, oldest first); the latest `recent_share` of the window's
    rows are the recent ones of step 1. The out-of-fold sample stays with the calibration (in memory) for
    `refit`."""
    quantiles, forecast_rows = [], []
    windows = calibration_slices(rows["event_timestamp"], rows["outcome_known_at"], slices, share)
    for fit, forecast_mask in windows:
        if not forecast_mask.any() or not fit.any():
            continue
        quantiles.append(np.asarray(forecast(rows[fit], rows[forecast_mask]), dtype="float64"))
        forecast_rows.append(rows[forecast_mask])
    if not quantiles:
        return Calibration(fitted_on={"rows": 0, "note": "no out-of-fold slice could be forecast"})
    slice_rows = pd.concat(forecast_rows)
    sample = CalibrationSample(
        quantiles=np.vstack(quantiles),
        y=slice_rows[label].to_numpy(dtype="float64"),
        prior=slice_rows["hm_prior_events"].to_numpy(dtype="float64"),
        decided_at=pd.to_datetime(slice_rows["event_timestamp"], utc=True).to_numpy(dtype="datetime64[ns]"),
        window_rows=len(rows),
        pooled_share=slices * share,
        recent_share=recent_share,
    )
    recent = np.arange(len(sample.y)) >= len(sample.y) - round(len(rows) * recent_share)
    calibration = fit_calibration(sample.quantiles, sample.y, sample.prior, recent=recent)
    calibration.sample = sample
    calibration.fitted_on |= {
        "design": {
            "slices": slices,
            "recent_share": recent_share,
            "slice_share": share,
            "pooled_weight": POOLED_WEIGHT,
            "stratum_shrinkage": STRATUM_SHRINKAGE,
        },
        "slices": len(quantiles),
        "first_decision": str(slice_rows["event_timestamp"].min()),
        "last_decision": str(slice_rows["event_timestamp"].max()),
    }
    return calibration


def refit(
    calibration: Calibration, quantiles: np.ndarray, y: np.ndarray, prior: np.ndarray, decided_at: np.ndarray
) -> Calibration:
    """`calibration` re-fitted as a training at a later time fits it, the boosters unchanged: its out-of-fold
    sample plus the newly known events (the same model's raw (n, 5) `quantiles`, the moves `y`, prior trusted
    moves and decision times), the window grown by them; the calibration rows are the latest
    `pooled_share` of the grown window, the recent ones its latest `recent_share` (step 1). Without a sample
    or new events: `calibration` itself."""
    sample = calibration.sample
    known = ~np.isnan(np.asarray(y, dtype="float64"))
    if sample is None or not known.any():
        return calibration
    order = np.argsort(np.asarray(decided_at)[known], kind="mergesort")
    q = np.vstack([sample.quantiles, np.asarray(quantiles, dtype="float64")[known][order]])
    moves = np.concatenate([sample.y, np.asarray(y, dtype="float64")[known][order]])
    priors = np.concatenate([sample.prior, np.asarray(prior, dtype="float64")[known][order]])
    window = sample.window_rows + int(known.sum())
    rows = min(len(moves), round(window * sample.pooled_share))
    recent = np.arange(rows) >= rows - round(window * sample.recent_share)
    refitted = fit_calibration(q[-rows:], moves[-rows:], priors[-rows:], recent=recent)
    refitted.fitted_on |= {
        "design": calibration.fitted_on.get("design"),
        "refit": {"added_rows": int(known.sum()), "last_decision": str(np.asarray(decided_at)[known].max())},
    }
    return refitted

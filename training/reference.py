"""Reference forecasts from trusted labels only: what the model must beat, and what serving uses without it.

- **Scaled history** (`ScaledHistory`): each event's history level s (`training.scaling.history_scale`: the
  mean of its last 12 trusted moves shrunk towards the training window's mean trusted move by its number of
  prior trusted moves; the window's mean without history) times the quantiles of |move| / s over the training
  rows. It is exactly what the move-size model knows without learning anything from the features (the model
  forecasts |move| / s): the baseline that shows what the model learned, and what serving uses without it.
  Its tail is fitted like the model's (`calibration.fit_tail`) on the training rows' exceedances of their own
  q90. Never 2.0's all-rows mean: for AMC tickers it averages announcement-day moves and understates the
  reaction.
- **Fair 2.0** (`fair_2_0_mean`): 2.0's rule on trusted moves, the mean of the last 12 trusted moves, as a
  point, and as a distribution the half-normal with that mean (`half_normal_quantiles`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.special import erfc, erfinv

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.training.calibration import fit_tail
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.scaling import history_scale

MOVE = "abs_close_move_pct"
OWN_MEAN = "hm_close_mean_12q"
MIN_ROWS = 20
# only with fewer than MIN_ROWS training moves (tests, tiny databases): quantiles of |move| / mean |move| of a
# typical earnings-move distribution, and a typical mean |move| in %
DEFAULT_SHAPE = (0.17, 0.38, 0.76, 1.38, 2.26)
DEFAULT_MEAN = 4.2


def _trusted(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows[rows[MOVE].notna()]
    return rows[rows["label_trusted"].astype(bool)] if "label_trusted" in rows else rows


def _own_mean(events: pd.DataFrame) -> np.ndarray:
    if OWN_MEAN not in events:
        return np.full(len(events), np.nan)
    level = pd.to_numeric(events[OWN_MEAN], errors="coerce").to_numpy(dtype="float64")
    return np.where(level > 0, level, np.nan)


@dataclass
class ScaledHistory:
    """The scaled-history forecaster, fitted on a training window (plain numbers: JSON with the model)."""

    scale_mean: float
    shape: list[float]
    tail_shape: float
    tail_scale: float

    @classmethod
    def fit(cls, train: pd.DataFrame) -> ScaledHistory:
        rows = _trusted(train)
        moves = rows[MOVE].to_numpy(dtype="float64")
        scale_mean = float(moves.mean()) if len(moves) else DEFAULT_MEAN
        ratio = moves / history_scale(rows, scale_mean) if len(rows) else moves
        ratio = ratio[np.isfinite(ratio)]
        shape = np.quantile(ratio, QUANTILE_LEVELS) if len(ratio) >= MIN_ROWS else np.asarray(DEFAULT_SHAPE)
        shape = np.maximum.accumulate(shape)
        tail_shape, tail_scale = fit_tail(ratio[ratio > shape[-1]] / shape[-1] - 1)
        return cls(
            scale_mean=round(scale_mean, 10),
            shape=np.round(shape, 6).tolist(),
            tail_shape=tail_shape,
            tail_scale=tail_scale,
        )

    def quantiles(self, events: pd.DataFrame) -> np.ndarray:
        """(n, 5) quantiles q10..q90 of |move| per event: its history level s times the ratio quantiles."""
        return self.scaled(history_scale(events, self.scale_mean))

    def scaled(self, scale: np.ndarray) -> np.ndarray:
        """`quantiles` of events whose history levels s (with this forecaster's `scale_mean`) are known."""
        return np.outer(scale, self.shape)

    def distribution(self, events: pd.DataFrame) -> MoveDistribution:
        return MoveDistribution(self.quantiles(events), self.tail_shape, self.tail_scale)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ScaledHistory:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})  # type: ignore[arg-type]


def fair_2_0_mean(events: pd.DataFrame, fallback: float) -> np.ndarray:
    """2.0's rule on trusted moves: the mean of the last 12 trusted moves; `fallback` without history."""
    level = _own_mean(events)
    return np.where(np.isnan(level), fallback, level)


def half_normal_quantiles(mean_abs_move: np.ndarray) -> np.ndarray:
    """(n, 5) quantiles of |X| for X normal with E|X| = `mean_abs_move` (2.0's mean as a distribution)."""
    sigma = np.asarray(mean_abs_move, dtype="float64") * math.sqrt(math.pi / 2)
    return np.outer(sigma, math.sqrt(2) * erfinv(np.asarray(QUANTILE_LEVELS)))


def half_normal_exceedance(mean_abs_move: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function x (n,) -> P(|X| > x) per event for that half-normal."""
    sigma = np.asarray(mean_abs_move, dtype="float64") * math.sqrt(math.pi / 2)

    def exceeds(x: np.ndarray) -> np.ndarray:
        return erfc(np.asarray(x, dtype="float64") / (sigma * math.sqrt(2)))

    return exceeds

"""Forecast metrics: point errors, pinball loss and quantile calibration, reliability of P(|move| > x) under
a `MoveDistribution`, the direction AUC and seeded bootstrap confidence intervals."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.training.distribution import MoveDistribution

BOOTSTRAP_RESAMPLES = 500
BOOTSTRAP_SEED = 7
BOOTSTRAP_BLOCK = 2**20  # drawn event indices held at once by `bootstrap_auc`


def rounded(value: float | np.floating, digits: int = 4) -> float | None:
    """`value` rounded for the metrics JSON; None for NaN."""
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


def pinball(y: np.ndarray, q: np.ndarray, alpha: float) -> float:
    diff = y - q
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1) * diff)))


def point_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    err = pred - y
    sst = float(np.sum((y - y.mean()) ** 2)) if len(y) else math.nan
    return {
        "n": len(y),
        "mae": rounded(np.mean(np.abs(err))),
        "rmse": rounded(np.sqrt(np.mean(err**2))),
        "r2": rounded(1 - float(np.sum(err**2)) / sst) if sst and sst > 0 else None,
    }


def quantile_metrics(y: np.ndarray, q: np.ndarray) -> dict[str, object]:
    """Pinball loss per quantile, their mean, coverage of q10-q90, observed share below each quantile."""
    losses = {
        name: rounded(pinball(y, q[:, j], a))
        for j, (a, name) in enumerate(zip(QUANTILE_LEVELS, QUANTILE_NAMES, strict=True))
    }
    return {
        "pinball": losses,
        "mean_pinball": rounded(np.mean(np.asarray(list(losses.values())))),
        "coverage_80": rounded(np.mean((y >= q[:, 0]) & (y <= q[:, -1]))),
        "share_below": {name: rounded(np.mean(y < q[:, j])) for j, name in enumerate(QUANTILE_NAMES)},
    }


def exceedance_metrics(y: np.ndarray, distribution: MoveDistribution, x: np.ndarray) -> dict[str, float | None]:
    """Reliability of P(|move| > x) (one x per event): mean predicted probability vs observed frequency, and
    Brier score."""
    p = np.asarray(distribution.sf(np.asarray(x, dtype="float64")), dtype="float64")
    hit = (y > x).astype(float)
    return {"predicted": rounded(p.mean()), "observed": rounded(hit.mean()), "brier": rounded(np.mean((p - hit) ** 2))}


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half)."""
    y = np.asarray(y, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return math.nan
    ranks = rankdata(p)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def bootstrap_auc(
    y: np.ndarray, p: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Seeded percentile bootstrap 95% CI of the AUC: `resamples` draws of the events with replacement, each
    one's `auc` (a draw with one class only, or a NaN probability, has none and is left out)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype="float64")
    distinct, code = np.unique(p, return_inverse=True)
    values = []
    block = max(1, BOOTSTRAP_BLOCK // max(len(y), 1))  # draws at once: the same stream as one by one
    for done in range(0, resamples, block):
        drawn = rng.integers(0, len(y), (min(block, resamples - done), len(y)))
        aucs = _drawn_aucs(drawn, code.reshape(-1), len(distinct), y)
        values.extend(aucs[~np.isnan(p)[drawn].any(axis=1) & ~np.isnan(aucs)].tolist())
    if not values:
        return math.nan, math.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _drawn_aucs(drawn: np.ndarray, code: np.ndarray, levels: int, y: np.ndarray) -> np.ndarray:
    """`auc(y[d], p[d])` of each row d of `drawn`, from how often each distinct probability (`code`: its
    index among the `levels` sorted ones) was drawn: its average rank is the draws below it plus (its count +
    1) / 2. The positives' rank sum is a sum of halves far below 2**53, exact in any order: the same float as
    `auc`'s (NaN where a draw holds one class only)."""
    rows = len(drawn)
    cells = (code[drawn] + levels * np.arange(rows)[:, None]).reshape(-1)
    counts = np.bincount(cells, minlength=rows * levels).reshape(rows, levels)
    positives = np.bincount(cells, weights=y[drawn].reshape(-1), minlength=rows * levels).reshape(rows, levels)
    ranks = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2
    rank_sums = (positives * ranks).sum(axis=1)
    pos = positives.sum(axis=1).astype("int64")
    neg = drawn.shape[1] - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        aucs = (rank_sums - pos * (pos + 1) / 2) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), aucs, np.nan)

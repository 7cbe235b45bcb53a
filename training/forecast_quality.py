"""How well the move distribution is calibrated: per fold, pooled, by prior trusted history and by timing.

For a group of evaluated events (their `MoveDistribution` from the columns q10..q90, tail_shape, tail_scale):
80% interval coverage and the observed shares below q10 and q90, each with its 95% Wilson interval (on a few
dozen events of a stratum a share of 15% above q90 is no evidence against 10%), the observed share below each
quantile, mean pinball loss next to the ticker's empirical quantiles', MAE of the median, and the tail table:
predicted vs observed P(|move| > 1.5 q90), P(> 2 q90) and P(> 3/5/8/12%). Over all events: the PIT histogram
(the forecast CDF at the realised move: uniform when calibrated) and the reliability of P(|move| > x) by bins of
the predicted probability. `target_checks` holds the result against the issue-12 targets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.baselines import EMPIRICAL_NAMES
from ivcrush.training.calibration import STRATA, history_stratum
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.gate import pinball_loss
from ivcrush.training.metrics import rounded
from ivcrush.training.train import MOVE_LABEL

TAIL_MULTIPLES = (1.5, 2.0)  # x q90
TAIL_THRESHOLDS = (3.0, 5.0, 8.0, 12.0)  # % moves
PIT_BINS = 10
RELIABILITY_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
# issue 12's targets
COVERAGE_RANGE = (0.77, 0.83)
SHARE_TOLERANCE = 0.03
TAIL_TOLERANCE = 0.015
PINBALL_RATIO_MAX = 0.92


def distribution_of(rows: pd.DataFrame) -> MoveDistribution:
    """The evaluated rows' forecast distributions (q10..q90 and their tail columns)."""
    return MoveDistribution.from_frame(rows)


def tail_label(multiple: float | None = None, threshold: float | None = None) -> str:
    return f"P(>{multiple:g} q90)" if multiple is not None else f"P(>{threshold:g}%)"


def wilson_interval(hits: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of a share `hits / n` (None without events)."""
    if n == 0:
        return None
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, float(centre - half)), 4), round(min(1.0, float(centre + half)), 4)]


def forecast_table(rows: pd.DataFrame) -> dict[str, object]:
    """Calibration, sharpness and tail of one group of events (see the module docstring)."""
    if not len(rows):
        return {"n": 0}
    y = rows[MOVE_LABEL].to_numpy(dtype="float64")
    q = rows[list(QUANTILE_NAMES)].to_numpy(dtype="float64")
    empirical = rows[list(EMPIRICAL_NAMES)].to_numpy(dtype="float64")
    distribution = distribution_of(rows)
    pinball, pinball_empirical = float(pinball_loss(y, q).mean()), float(pinball_loss(y, empirical).mean())
    tail: dict[str, dict[str, float | None]] = {}
    for multiple in TAIL_MULTIPLES:
        x = multiple * q[:, -1]
        tail[tail_label(multiple)] = {
            "predicted": rounded(np.mean(distribution.sf(x))),
            "observed": rounded(np.mean(y > x)),
        }
    for threshold in TAIL_THRESHOLDS:
        tail[tail_label(threshold=threshold)] = {
            "predicted": rounded(np.mean(distribution.sf(np.full(len(y), threshold)))),
            "observed": rounded(np.mean(y > threshold)),
        }
    inside = (y >= q[:, 0]) & (y <= q[:, -1])
    return {
        "n": len(rows),
        "coverage_80": rounded(np.mean(inside)),
        "coverage_80_ci95": wilson_interval(int(inside.sum()), len(y)),
        "share_below": {name: rounded(np.mean(y < q[:, j])) for j, name in enumerate(QUANTILE_NAMES)},
        "share_below_ci95": {
            name: wilson_interval(int(np.sum(y < q[:, j])), len(y))
            for j, name in enumerate(QUANTILE_NAMES)
            if name in ("q10", "q90")
        },
        "mean_pinball": rounded(pinball),
        "mean_pinball_empirical": rounded(pinball_empirical),
        "pinball_ratio_empirical": rounded(pinball / pinball_empirical) if pinball_empirical > 0 else None,
        "mae": rounded(np.mean(np.abs(q[:, QUANTILE_NAMES.index("q50")] - y))),
        "tail": tail,
    }


def pit_histogram(rows: pd.DataFrame, bins: int = PIT_BINS) -> list[int]:
    """Counts of the PIT values F(y) in `bins` equal bins of [0, 1]."""
    pit = distribution_of(rows).cdf(rows[MOVE_LABEL].to_numpy(dtype="float64"))
    return np.histogram(np.atleast_1d(pit), bins=bins, range=(0.0, 1.0))[0].tolist()


def reliability(rows: pd.DataFrame) -> list[dict[str, object]]:
    """For each threshold of `TAIL_THRESHOLDS`, per bin of the predicted P(|move| > x): events, mean predicted
    probability and observed frequency."""
    y = rows[MOVE_LABEL].to_numpy(dtype="float64")
    distribution = distribution_of(rows)
    out = []
    for threshold in TAIL_THRESHOLDS:
        p = np.atleast_1d(distribution.sf(np.full(len(y), threshold)))
        which = np.clip(np.digitize(p, RELIABILITY_EDGES[1:-1]), 0, len(RELIABILITY_EDGES) - 2)
        for b in np.unique(which):
            chosen = which == b
            out.append(
                {
                    "threshold": threshold,
                    "bin": [RELIABILITY_EDGES[b], RELIABILITY_EDGES[b + 1]],
                    "n": int(chosen.sum()),
                    "predicted": rounded(p[chosen].mean()),
                    "observed": rounded(np.mean(y[chosen] > threshold)),
                }
            )
    return out


def forecast_tables(rows: pd.DataFrame) -> dict[str, object]:
    """`forecast_table` pooled, per fold, per prior-trusted-history stratum and per timing; PIT and reliability."""
    strata = history_stratum(rows["hm_prior_events"]) if "hm_prior_events" in rows else np.full(len(rows), "0")
    return {
        "pooled": forecast_table(rows),
        "by_fold": {str(fold): forecast_table(group) for fold, group in rows.groupby("fold")},
        "by_history": {name: forecast_table(rows[strata == name]) for name in STRATA},
        "by_timing": {str(timing): forecast_table(group) for timing, group in rows.groupby("timing")},
        "pit_histogram": pit_histogram(rows) if len(rows) else [],
        "reliability": reliability(rows) if len(rows) else [],
    }


def _share_near(level: float) -> Callable[[float], bool]:
    """Whether an observed share below a quantile is within SHARE_TOLERANCE of its level."""
    return lambda v: abs(v - level) <= SHARE_TOLERANCE + 1e-9


def _check(target: str, by_fold: dict[str, float], pooled: float | None, ok: Callable[[float], bool]) -> dict[str, Any]:
    met = pooled is not None and ok(pooled) and all(ok(value) for value in by_fold.values())
    return {"target": target, "by_fold": by_fold, "pooled": pooled, "met": bool(met)}


def target_checks(tables: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue-12 targets on the evaluated folds (each in every fold and pooled, the tail pooled only)."""
    pooled, folds = tables["pooled"], {fold: t for fold, t in tables["by_fold"].items() if t.get("n")}
    if not pooled.get("n"):
        return []
    low, high = COVERAGE_RANGE
    checks = [
        _check(
            f"80% coverage within {low:.2f}-{high:.2f}",
            {fold: t["coverage_80"] for fold, t in folds.items()},
            pooled["coverage_80"],
            lambda v: low <= v <= high,
        )
    ]
    for name, level in (("q10", 0.1), ("q90", 0.9)):
        checks.append(
            _check(
                f"share below {name} within {SHARE_TOLERANCE * 100:.0f} points of {level:.0%}",
                {fold: t["share_below"][name] for fold, t in folds.items()},
                pooled["share_below"][name],
                _share_near(level),
            )
        )
    for multiple in TAIL_MULTIPLES:
        label = tail_label(multiple)
        cell = pooled["tail"][label]
        gap = None if cell["predicted"] is None else round(cell["predicted"] - cell["observed"], 4)
        checks.append(
            _check(
                f"{label} predicted within {TAIL_TOLERANCE * 100:.1f} points of observed (pooled; gap shown)",
                {},
                gap,
                lambda v: abs(v) <= TAIL_TOLERANCE + 1e-9,
            )
        )
    checks.append(
        _check(
            f"mean pinball <= {PINBALL_RATIO_MAX} x the ticker's empirical quantiles'",
            {fold: t["pinball_ratio_empirical"] for fold, t in folds.items()},
            pooled["pinball_ratio_empirical"],
            lambda v: v <= PINBALL_RATIO_MAX,
        )
    )
    return checks


def check_sentence(check: dict[str, Any]) -> str:
    """E.g. "target 80% coverage within 0.77-0.83: met (fold 0 0.808, fold 1 0.805; pooled 0.807)"."""
    folds = ", ".join(f"fold {fold} {value:g}" for fold, value in check["by_fold"].items())
    values = f"{folds}; pooled {check['pooled']:g}" if folds else f"{check['pooled']:g}"
    return f"target {check['target']}: {'met' if check['met'] else 'NOT met'} ({values})"

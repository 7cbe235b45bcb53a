"""The honest skill gate of the move-size forecast: per target, a gain that holds in every fold and whose
block-bootstrap confidence interval excludes zero.

Targets, each a per-event loss (lower is better):

- **MAE**: |y - point|.
- **pinball**: the mean over q10..q90 of the pinball loss of the quantiles.
- **Brier**: the mean over `BRIER_THRESHOLDS` x of (P(|move| > x) - 1[y > x])^2, the exceedance probabilities
  the strategy bets on.

For each target the forecast is compared with the best baseline that can be scored on it (lowest mean loss
over the same events). gain = mean(baseline loss - forecast loss) > 0 means the forecast is ahead. Its 95% CI
comes from a block bootstrap whose blocks are the weeks of the decision dates (New York), so that events
decided together (market-wide shocks) are resampled together. A target shows skill only when the CI's lower
bound is > 0 AND the gain is positive in every fold. The verdict says exactly what held, e.g.
"pinball: ahead, significant; MAE: ahead, not significant (CI -0.04..+0.12; behind in fold 1)".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS

BRIER_THRESHOLDS = (3.0, 5.0, 8.0, 12.0)
GATE_RESAMPLES = 2000
GATE_SEED = 7
GATE_LEVEL = 0.95
TARGETS = ("pinball", "MAE", "Brier")
NEW_YORK = "America/New_York"
Exceedance = Callable[[np.ndarray], np.ndarray]  # x (n,) -> P(|move| > x), one per event


@dataclass
class Forecast:
    """What a forecaster says about n events; a target is scored only where its input is given."""

    point: np.ndarray | None = None
    quantiles: np.ndarray | None = None
    exceedance: Exceedance | None = None


def absolute_error(y: np.ndarray, point: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(y, dtype="float64") - np.asarray(point, dtype="float64"))


def pinball_loss(y: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Per event, the mean pinball loss over the levels of `QUANTILE_LEVELS`."""
    levels = np.asarray(QUANTILE_LEVELS)
    diff = np.asarray(y, dtype="float64")[:, None] - np.asarray(quantiles, dtype="float64")
    return np.maximum(levels * diff, (levels - 1) * diff).mean(axis=1)


def exceedance_brier(
    y: np.ndarray, exceedance: Exceedance, thresholds: Sequence[float] = BRIER_THRESHOLDS
) -> np.ndarray:
    """Per event, the mean Brier score of P(|move| > x) over the thresholds."""
    y = np.asarray(y, dtype="float64")
    scores = [(np.asarray(exceedance(np.full(len(y), x)), dtype="float64") - (y > x)) ** 2 for x in thresholds]
    return np.mean(scores, axis=0)


def losses(y: np.ndarray, forecast: Forecast) -> dict[str, np.ndarray]:
    """The per-event loss of every target the forecast can be scored on."""
    out: dict[str, np.ndarray] = {}
    if forecast.quantiles is not None:
        out["pinball"] = pinball_loss(y, forecast.quantiles)
    if forecast.point is not None:
        out["MAE"] = absolute_error(y, forecast.point)
    if forecast.exceedance is not None:
        out["Brier"] = exceedance_brier(y, forecast.exceedance)
    return out


def week_blocks(decided_at: pd.Series | Sequence[object]) -> np.ndarray:
    """A block number per event: the week (Monday to Sunday, New York) of its decision time."""
    stamps = pd.to_datetime(pd.Series(decided_at), utc=True).dt.tz_convert(NEW_YORK).dt.tz_localize(None)
    weeks = stamps.dt.to_period("W-SUN")
    return pd.factorize(weeks, sort=True)[0]


def block_bootstrap_ci(
    values: np.ndarray,
    blocks: np.ndarray,
    resamples: int = GATE_RESAMPLES,
    seed: int = GATE_SEED,
    level: float = GATE_LEVEL,
) -> tuple[float, float]:
    """Percentile CI of the mean of `values`, resampling whole blocks with replacement (seeded)."""
    values = np.asarray(values, dtype="float64")
    _, block = np.unique(np.asarray(blocks), return_inverse=True)
    if len(values) == 0:
        return float("nan"), float("nan")
    sums = np.bincount(block, weights=values)
    counts = np.bincount(block).astype("float64")
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(sums), (resamples, len(sums)))
    means = sums[chosen].sum(axis=1) / counts[chosen].sum(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


@dataclass
class TargetVerdict:
    """The gate's finding on one target."""

    target: str
    baseline: str
    loss: float
    baseline_loss: float
    gain: float
    ci: tuple[float, float]
    fold_gains: dict[str, float] = field(default_factory=dict)

    @property
    def ahead(self) -> bool:
        return self.gain > 0

    @property
    def every_fold(self) -> bool:
        return all(g > 0 for g in self.fold_gains.values())

    @property
    def skill(self) -> bool:
        return self.ci[0] > 0 and self.every_fold

    def words(self) -> str:
        """E.g. "MAE: ahead, not significant (gain +0.03, 95% CI -0.04..+0.12; behind in fold 1)"."""
        status = "ahead" if self.ahead else "behind"
        significant = "significant" if self.skill else "not significant"
        reasons = []
        if self.ci[0] <= 0:
            reasons.append(f"95% CI {self.ci[0]:+.3g}..{self.ci[1]:+.3g}")
        behind = [fold for fold, gain in self.fold_gains.items() if gain <= 0]
        if behind:
            reasons.append("behind in fold " + ", ".join(behind))
        detail = f" ({'; '.join(reasons)})" if reasons and self.ahead else ""
        return f"{self.target}: {status}, {significant}{detail} vs {self.baseline}"

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "baseline": self.baseline,
            "loss": self.loss,
            "baseline_loss": self.baseline_loss,
            "gain": self.gain,
            "gain_ci95": list(self.ci),
            "fold_gains": self.fold_gains,
            "every_fold": self.every_fold,
            "skill": self.skill,
            "words": self.words(),
        }


def judge(
    target: str,
    forecast_loss: np.ndarray,
    baseline_losses: Mapping[str, np.ndarray],
    folds: np.ndarray,
    blocks: np.ndarray,
    resamples: int = GATE_RESAMPLES,
    seed: int = GATE_SEED,
) -> TargetVerdict:
    """One target's verdict against the best of the baselines (lowest mean loss on the same events)."""
    if not baseline_losses:
        raise ValueError(f"no baseline can be scored on {target}")
    name = min(baseline_losses, key=lambda b: float(np.mean(baseline_losses[b])))
    gain = np.asarray(baseline_losses[name], dtype="float64") - np.asarray(forecast_loss, dtype="float64")
    folds = np.asarray(folds)
    return TargetVerdict(
        target=target,
        baseline=name,
        loss=float(np.mean(forecast_loss)),
        baseline_loss=float(np.mean(baseline_losses[name])),
        gain=float(gain.mean()),
        ci=block_bootstrap_ci(gain, blocks, resamples, seed),
        fold_gains={str(fold): float(gain[folds == fold].mean()) for fold in np.unique(folds)},
    )


@dataclass
class GateResult:
    """Verdicts per target; `skill(target)` is what serving asks (pinball for the quantiles)."""

    verdicts: dict[str, TargetVerdict]

    def skill(self, target: str) -> bool:
        verdict = self.verdicts.get(target)
        return bool(verdict is not None and verdict.skill)

    def sentence(self) -> str:
        return "; ".join(self.verdicts[t].words() for t in TARGETS if t in self.verdicts)

    def to_dict(self) -> dict[str, object]:
        return {"targets": {t: v.to_dict() for t, v in self.verdicts.items()}, "sentence": self.sentence()}


def skill_gate(
    y: np.ndarray,
    forecast: Forecast,
    baselines: Mapping[str, Forecast],
    folds: np.ndarray,
    decided_at: pd.Series | Sequence[object],
    resamples: int = GATE_RESAMPLES,
    seed: int = GATE_SEED,
) -> GateResult:
    """Every target the forecast can be scored on, each against its best baseline, on the same events."""
    y = np.asarray(y, dtype="float64")
    blocks = week_blocks(decided_at)
    mine = losses(y, forecast)
    theirs = {name: losses(y, baseline) for name, baseline in baselines.items()}
    verdicts = {}
    for target in TARGETS:
        scored = {name: loss[target] for name, loss in theirs.items() if target in loss}
        if target in mine and scored:
            verdicts[target] = judge(target, mine[target], scored, folds, blocks, resamples, seed)
    return GateResult(verdicts)

"""The skill gate: per target, gain over the best baseline, block bootstrap CI by decision week, the gain's
sign in every fold, and a verdict that says exactly which held."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.gate import (
    Forecast,
    block_bootstrap_ci,
    exceedance_brier,
    judge,
    pinball_loss,
    skill_gate,
    week_blocks,
)


def decisions(n: int, per_week: int = 10) -> pd.Series:
    """n decision times, `per_week` events in each week (16:00 New York, Monday to Friday)."""
    days = pd.bdate_range("2023-01-02", periods=n // per_week * 5 + 5)
    picked = np.repeat(days[::5], per_week)[:n]  # all of a week's events on its Monday
    return pd.Series(picked).dt.tz_localize("America/New_York") + pd.Timedelta(hours=16)


def test_week_blocks_follow_new_york_weeks() -> None:
    stamps = pd.Series(
        pd.to_datetime(
            [
                "2024-03-04 21:00Z",
                "2024-03-08 21:00Z",
                "2024-03-11 20:00Z",
                "2024-03-11 03:00Z",
            ]  # the last is Sunday NY
        )
    )
    blocks = week_blocks(stamps)
    assert blocks[0] == blocks[1] == blocks[3] and blocks[2] != blocks[0]


def test_block_bootstrap_is_seeded_and_wider_when_weeks_move_together() -> None:
    rng = np.random.default_rng(1)
    blocks = np.repeat(np.arange(50), 20)
    shared = np.repeat(rng.standard_normal(50), 20)  # a common shock per week
    values = shared + 0.1 * rng.standard_normal(1000)
    low, high = block_bootstrap_ci(values, blocks)
    assert (low, high) == block_bootstrap_ci(values, blocks)
    assert low < values.mean() < high
    iid_low, iid_high = block_bootstrap_ci(values, np.arange(1000))
    assert high - low > 2.5 * (iid_high - iid_low)
    assert block_bootstrap_ci(np.full(100, 0.3), np.repeat(np.arange(10), 10)) == pytest.approx((0.3, 0.3))


def test_skill_needs_a_significant_gain_and_the_same_sign_in_every_fold() -> None:
    rng = np.random.default_rng(2)
    n = 900
    folds = np.repeat([0, 1, 2], n // 3)
    blocks = week_blocks(decisions(n))
    baseline = {"empirical": 1.0 + rng.exponential(1.0, n), "worse": 3.0 + rng.exponential(1.0, n)}
    clear = baseline["empirical"] - 0.3 + 0.05 * rng.standard_normal(n)
    verdict = judge("pinball", clear, baseline, folds, blocks)
    assert verdict.baseline == "empirical"
    assert verdict.skill and verdict.words() == "pinball: ahead, significant vs empirical"

    lost_fold = clear + np.where(folds == 1, 0.6, 0.0)  # still ahead pooled, behind in fold 1
    verdict = judge("MAE", lost_fold, baseline, folds, blocks)
    assert verdict.ahead and verdict.ci[0] > 0 and not verdict.skill
    assert verdict.words() == "MAE: ahead, not significant (behind in fold 1) vs empirical"

    error = 0.8 * rng.standard_normal(n)
    error -= pd.Series(error).groupby(folds).transform("mean").to_numpy()  # ahead by 0.02 in every fold
    verdict = judge("Brier", baseline["empirical"] - 0.02 + error, baseline, folds, blocks)
    assert verdict.every_fold and verdict.ci[0] < 0 and not verdict.skill
    assert verdict.words().startswith("Brier: ahead, not significant (95% CI -")

    behind = judge("MAE", baseline["empirical"] + 0.2, baseline, folds, blocks)
    assert not behind.ahead and behind.words() == "MAE: behind, not significant vs empirical"


def test_skill_gate_scores_each_baseline_only_on_the_targets_it_can_speak_to() -> None:
    rng = np.random.default_rng(3)
    n = 600
    scale = rng.uniform(1, 8, n)
    y = scale * rng.exponential(1.0, n)
    truth = np.outer(scale, -np.log(1 - np.array([0.1, 0.25, 0.5, 0.75, 0.9])))
    model = Forecast(point=truth[:, 2], quantiles=truth, exceedance=MoveDistribution(truth).sf)
    constant = np.tile(np.quantile(y, [0.1, 0.25, 0.5, 0.75, 0.9]), (n, 1))
    baselines = {
        "constant quantiles": Forecast(
            point=constant[:, 2], quantiles=constant, exceedance=MoveDistribution(constant).sf
        ),
        "fair 2.0 mean": Forecast(point=np.full(n, y.mean())),
    }
    result = skill_gate(y, model, baselines, np.repeat([0, 1, 2], n // 3), decisions(n))
    assert set(result.verdicts) == {"pinball", "MAE", "Brier"}
    assert result.verdicts["pinball"].baseline == "constant quantiles"
    assert result.skill("pinball") and result.skill("Brier")
    assert result.sentence().startswith("pinball: ahead, significant")
    assert result.to_dict()["targets"]["MAE"]["baseline"] in baselines


def test_losses() -> None:
    q = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert pinball_loss(np.array([3.0]), q)[0] == pytest.approx(np.mean([0.2, 0.25, 0.0, 0.25, 0.2]))
    always = exceedance_brier(np.array([20.0]), lambda x: np.ones_like(x))
    assert always[0] == 0.0

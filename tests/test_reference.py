"""Reference forecasts from trusted labels only: the scaled-history forecaster and the fair 2.0 mean."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ivcrush.training.reference import (
    ScaledHistory,
    fair_2_0_mean,
    half_normal_exceedance,
    half_normal_quantiles,
)
from ivcrush.training.scaling import history_scale


def window(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    own = rng.uniform(1, 8, n)
    move = own * rng.exponential(1.0, n)
    trusted = np.arange(n) % 5 != 0
    return pd.DataFrame(
        {
            "abs_close_move_pct": np.where(trusted, move, 0.01),  # untrusted rows: tiny announcement-day moves
            "label_trusted": trusted,
            "hm_close_mean_12q": np.where(np.arange(n) % 7 == 0, np.nan, own),
            "hm_prior_events": np.where(np.arange(n) % 7 == 0, 0, np.arange(n) % 13),
            "hm_close_mean_12q_all_rows": own / 3,
        }
    )


def test_scaled_history_uses_trusted_rows_and_the_shrunk_trusted_level() -> None:
    """The model's own scale s (trusted level shrunk to the window's mean) times the quantiles of |move| / s:
    what the move-size model knows before learning anything from the features."""
    train = window()
    fitted = ScaledHistory.fit(train)
    trusted = train[train["label_trusted"]]
    assert fitted.scale_mean == pytest.approx(trusted["abs_close_move_pct"].mean())
    ratio = trusted["abs_close_move_pct"] / history_scale(trusted, fitted.scale_mean)
    assert fitted.shape == pytest.approx(np.quantile(ratio, [0.1, 0.25, 0.5, 0.75, 0.9]), abs=1e-6)
    events = pd.DataFrame(
        {
            "hm_close_mean_12q": [2.0, np.nan, 0.0],
            "hm_prior_events": [12, 0, 3],
            "hm_close_mean_12q_all_rows": [9.0, 9.0, 9.0],
        }
    )
    q = fitted.quantiles(events)
    level = (12 * 2.0 + 8 * fitted.scale_mean) / 20
    assert q[0] == pytest.approx(level * np.asarray(fitted.shape))
    assert q[1] == pytest.approx(fitted.scale_mean * np.asarray(fitted.shape)) and q[2] == pytest.approx(q[1])
    changed = events.assign(hm_close_mean_12q_all_rows=[1.0, 50.0, 3.0])
    assert np.array_equal(fitted.quantiles(changed), q), "never 2.0's all-rows mean"
    assert 0.0 <= fitted.tail_shape <= 0.9
    restored = ScaledHistory.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert np.array_equal(restored.quantiles(events), q)
    dist = fitted.distribution(events)
    assert np.allclose(dist.cdf(dist.quantiles.T), np.array([[0.1, 0.25, 0.5, 0.75, 0.9]]).T)


def test_fair_2_0_is_the_trusted_mean_with_a_fallback() -> None:
    events = pd.DataFrame({"hm_close_mean_12q": [4.0, np.nan], "hm_close_mean_12q_all_rows": [1.0, 2.0]})
    assert list(fair_2_0_mean(events, fallback=3.5)) == [4.0, 3.5]


def test_half_normal_has_the_given_mean_and_consistent_quantiles() -> None:
    mean = np.array([2.0, 5.0])
    q = half_normal_quantiles(mean)
    exceeds = half_normal_exceedance(mean)
    for j, level in enumerate([0.1, 0.25, 0.5, 0.75, 0.9]):
        assert exceeds(q[:, j]) == pytest.approx([1 - level, 1 - level])
    xs = np.linspace(0, 60, 60001)
    assert np.trapezoid(half_normal_exceedance(np.array([5.0]))(xs), xs) == pytest.approx(5.0, rel=1e-4)

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
            "hm_close_mean_12q_all_rows": own / 3,
        }
    )


def test_scaled_history_uses_trusted_rows_and_the_trusted_mean() -> None:
    train = window()
    fitted = ScaledHistory.fit(train)
    trusted = train[train["label_trusted"]]
    assert fitted.unconditional == pytest.approx(
        np.quantile(trusted["abs_close_move_pct"], [0.1, 0.25, 0.5, 0.75, 0.9])
    )
    events = pd.DataFrame({"hm_close_mean_12q": [2.0, np.nan, 0.0], "hm_close_mean_12q_all_rows": [9.0, 9.0, 9.0]})
    q = fitted.quantiles(events)
    assert q[0] == pytest.approx(2.0 * np.asarray(fitted.shape))
    assert q[1] == pytest.approx(fitted.unconditional) and q[2] == pytest.approx(fitted.unconditional)
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

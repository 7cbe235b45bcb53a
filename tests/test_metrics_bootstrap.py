"""The direction AUC's bootstrap interval from each draw's counts per distinct probability: the numbers of the
plain loop (one `auc`, i.e. scipy's ranks, per draw) it replaced, kept here as the oracle, bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ivcrush.training import metrics
from ivcrush.training.metrics import auc, bootstrap_auc


def _loop(y: np.ndarray, p: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """The former implementation: one draw, one `auc` at a time."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        value = auc(y[idx], p[idx])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return math.nan, math.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(0, 600),
    share_up=st.floats(0.0, 1.0),
    digits=st.sampled_from([0, 1, 2, 6]),  # ties: probabilities rounded
    missing=st.sampled_from([0.0, 0.002, 0.05]),
    resamples=st.integers(1, 120),
    seed=st.integers(0, 2**32 - 1),
)
def test_bootstrap_auc_equals_the_loop_of_aucs_bit_for_bit(n, share_up, digits, missing, resamples, seed) -> None:
    rng = np.random.default_rng(seed)
    y = rng.uniform(size=n) < share_up
    p = rng.uniform(size=n).round(digits)
    p[rng.uniform(size=n) < missing] = np.nan
    assert repr(bootstrap_auc(y, p, resamples, seed)) == repr(_loop(y, p, resamples, seed))


def test_draws_in_blocks_are_the_draws_one_by_one(monkeypatch) -> None:
    """A block smaller than the resamples (a large frame): the same random stream, the same interval."""
    rng = np.random.default_rng(4)
    y, p = rng.uniform(size=300) < 0.4, rng.uniform(size=300).round(2)
    whole = bootstrap_auc(y, p, 50)
    monkeypatch.setattr(metrics, "BOOTSTRAP_BLOCK", 7 * 300)  # 7 draws a block
    assert repr(bootstrap_auc(y, p, 50)) == repr(whole) == repr(_loop(y, p, 50, metrics.BOOTSTRAP_SEED))

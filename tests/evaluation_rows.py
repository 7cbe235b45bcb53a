"""Pooled out-of-sample rows as `evaluate_frame` makes them, for tests of the metrics and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pooled_rows(
    actual: np.ndarray,
    rng: np.random.Generator,
    model: dict[str, object],
    baseline: dict[str, object],
    *,
    label_trusted: object = True,
    timing: object = "BMO",
) -> pd.DataFrame:
    """Rows of `actual` |moves| with the model's quantiles `model`, one set of quantiles `baseline` for every
    empirical, global and reference baseline, a coin for the direction and 2.0's means."""
    n = len(actual)
    rows = pd.DataFrame(
        {
            "label_trusted": label_trusted,
            "timing": timing,
            "fold": np.arange(n) % 2,
            "event_timestamp": pd.date_range("2024-01-01 21:00", periods=n, freq="D", tz="UTC"),
            "hm_prior_events": np.arange(n) % 9,
            "abs_close_move_pct": actual,
            "moved_up": rng.random(n) < 0.5,
            "p_up": rng.random(n),  # a coin: no information about the direction
            "iv_crush_ratio": np.nan,
            **model,
            **{f"base_{name}": value for name, value in baseline.items()},
            **{f"base_global_{name}": value for name, value in baseline.items()},
            **{f"ref_{name}": value for name, value in baseline.items()},
            "tail_shape": 0.1,
            "tail_scale": 0.4,
            "ref_tail_shape": 0.1,
            "ref_tail_scale": 0.4,
            "base_fair_2_0": actual.mean(),
            "base_global_median": np.median(actual),
            "base_2_0_mean": actual.mean(),
            "base_2_0_intraday": actual.mean(),
            "base_median_8q": np.median(actual),
            "base_2_0_mean_fallback": False,
            "base_2_0_intraday_fallback": False,
            "base_median_8q_fallback": False,
            "base_quantiles_fallback": False,
        }
    )
    rows["point"] = rows["q50"]
    return rows

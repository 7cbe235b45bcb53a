"""The level the move-size quantile models are scaled by: the trusted history level shrunk to the window's mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ivcrush.training.scaling import PRIOR_WEIGHT, history_scale


def test_history_scale_shrinks_own_level_towards_the_window_mean() -> None:
    events = pd.DataFrame({"hm_close_mean_12q": [np.nan, 6.0, 6.0, 6.0, 0.0], "hm_prior_events": [0, 2, 12, 40, 3]})
    scale = history_scale(events, overall_mean=4.0)
    assert scale[0] == 4.0 and scale[4] == 4.0  # no (usable) trusted history: the window's mean
    assert scale[1] == pytest.approx((2 * 6 + PRIOR_WEIGHT * 4) / (2 + PRIOR_WEIGHT))
    assert scale[2] == pytest.approx((12 * 6 + PRIOR_WEIGHT * 4) / (12 + PRIOR_WEIGHT))
    assert scale[3] == scale[2]  # the 12-quarter mean counts at most 12 moves

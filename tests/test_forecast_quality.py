"""The calibration tables' uncertainty: Wilson intervals of coverage and shares."""

from __future__ import annotations

import pytest

from ivcrush.training.forecast_quality import wilson_interval


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = wilson_interval(6, 35)  # 6 of 35 events above q90: 17%, yet 10% lies inside
    assert low == pytest.approx(0.0810, abs=1e-3) and high == pytest.approx(0.3268, abs=1e-3)
    assert low < 0.1 < high
    low, high = wilson_interval(400, 500)
    assert low == pytest.approx(0.7627, abs=1e-3) and high == pytest.approx(0.8327, abs=1e-3)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 20)[0] == 0.0

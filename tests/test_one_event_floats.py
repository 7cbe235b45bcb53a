"""`serving.one_event.OneEvent` gives `MoveDistribution`'s exceedance, CDF, exceedance integral, mean and q99 of
one event float for float: body, knots, tail, 0, negative, infinite and NaN points, heavy, thin and exponential
tails."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ivcrush.serving.one_event import STRESS_LEVEL, one_event
from ivcrush.training.distribution import MoveDistribution


def _points(distribution: MoveDistribution, rng: np.random.Generator) -> list[float]:
    knots = distribution.knots[0].tolist()
    spread = rng.uniform(-1.0, 3.0 * knots[-1], 200).tolist()
    return [*knots, -2.0, -0.0, 0.0, math.inf, math.nan, *spread, knots[-1] * 40]


@pytest.mark.parametrize("shape", [0.0, 1e-12, 0.05, 0.3, 0.9])
def test_one_event_is_the_distribution_float_for_float(shape: float) -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        quantiles = np.sort(rng.uniform(0.2, 15.0, 5))
        if rng.random() < 0.2:
            quantiles[2] = quantiles[1]  # a tie: the knots separated by the tie gap
        distribution = MoveDistribution([quantiles], shape, rng.uniform(0.05, 1.0))
        event = one_event(distribution)
        assert event is not None and event.quantiles == distribution.quantiles[0].tolist()
        assert event.mean == float(distribution.mean()) and event.q99 == float(distribution.ppf(STRESS_LEVEL))
        points = _points(distribution, rng)
        np.testing.assert_array_equal(np.array(event.sf(points)), distribution.sf(np.array(points)))
        np.testing.assert_array_equal(np.array(event.cdf(points)), distribution.cdf(np.array(points)))
        finite = [x for x in points if math.isfinite(x) or math.isnan(x)]
        for size in (1, 2, 4, len(finite)):
            ks = finite[:size]
            expected = distribution.expected_excess(np.array(ks))
            np.testing.assert_array_equal(np.array(event.expected_excess(ks)), expected)


def test_only_a_valid_single_event_has_one() -> None:
    assert one_event(MoveDistribution([[1.0, 2.0, np.nan, 4.0, 5.0]])) is None
    assert one_event(MoveDistribution([[1.0, 2.0, 3.0, 4.0, 5.0]] * 2)) is None
    distribution = MoveDistribution([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert one_event(distribution) is one_event(distribution)  # made once per distribution object

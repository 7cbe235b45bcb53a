"""P(loss) and other probabilities as the trader reads them: a positive probability never prints as 0%."""

from __future__ import annotations

import pytest

from ivcrush.serving.decision import format_probability


@pytest.mark.parametrize(
    ("p", "shown"),
    [
        (0.0, "0.0%"),
        (1e-9, "<0.1%"),
        (0.0004, "<0.1%"),
        (0.004, "0.4%"),
        (0.0049, "0.5%"),
        (0.093, "9.3%"),
        (0.25, "25%"),
        (0.95, "95.0%"),
        (0.9996, ">99.9%"),
        (1.0, "100.0%"),
        (float("nan"), "n/a"),
    ],
)
def test_probabilities_keep_small_positive_values_visible(p: float, shown: str) -> None:
    assert format_probability(p) == shown


def test_no_positive_probability_prints_as_zero_percent() -> None:
    for p in (1e-12, 1e-6, 0.0001, 0.00049, 0.0005, 0.004, 0.0099):
        assert format_probability(p) not in {"0%", "0.0%", "0.00%"}

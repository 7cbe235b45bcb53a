"""`training.predict`'s one-row forecast on Python floats (`_one_on_floats`) is, bit for bit, what the numpy path
(`_results`) gives for that row, or declines (None) and leaves the row to it: any raw quantile forecasts (zero,
negative, NaN), history columns (NaN, infinite, negative, beyond the cap), thin-history widening, AMC capping,
the model's and the reference's basis."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.calibration import STRATA, Calibration
from ivcrush.training.move_size import MoveSizeModel
from ivcrush.training.predict import EnsembleRows, _one_on_floats, _results, _Served
from ivcrush.training.reference import ScaledHistory

_SPECIAL = st.sampled_from([None, None, None, 0.0, -0.0, -0.3, math.nan, 1e-300])  # None: keep the drawn value
_SHIFTS = st.lists(st.floats(-1.0, 1.0), min_size=5, max_size=5)


def _bits(value: object) -> object:
    """The value with every float as its bytes (so -0.0, 0.0 and NaN payloads differ), containers kept."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return [(key, _bits(item)) for key, item in value.items()]
    if isinstance(value, list | tuple):
        return [_bits(item) for item in value]
    return (type(value).__name__, value)


@dataclass
class _Models:
    move_size: MoveSizeModel
    boosters: dict[str, object] = field(default_factory=dict)


@st.composite
def _calibration(draw: st.DrawFn) -> Calibration:
    strata = draw(st.lists(st.sampled_from(list(STRATA)), unique=True, max_size=4))
    return Calibration(
        shifts=draw(_SHIFTS),
        stratum_shifts={name: draw(_SHIFTS) for name in strata},
        tail_shape=draw(st.one_of(st.floats(-0.2, 1.2), st.integers(0, 1))),
        tail_scale=draw(st.one_of(st.floats(0.0, 2.0), st.just(np.float64(0.4)))),
    )


@settings(max_examples=600, deadline=None)
@given(
    raw=st.lists(st.floats(0.01, 5.0), min_size=5, max_size=5),
    special=st.tuples(st.integers(0, 4), _SPECIAL),
    own_level=st.sampled_from([math.nan, -1.0, 0.0, 2.5, 8.0, math.inf, -math.inf]),
    prior_count=st.sampled_from([math.nan, 0.0, 1.0, 2.0, 3.0, 7.0, 12.0, 30.0, -8.0, math.inf]),
    timing=st.sampled_from(["AMC", "BMO", None]),
    amc=st.booleans(),
    move_skill=st.booleans(),
    direction=st.sampled_from([None, 0.61]),
    calibration=_calibration(),
    reference_calibration=_calibration(),
    reference_shape=st.lists(st.floats(-0.1, 3.0), min_size=5, max_size=5),
    scale_mean=st.floats(0.5, 9.0),
)
def test_one_row_on_floats_is_the_numpy_rows_forecast(
    raw: list[float],
    special: tuple[int, float | None],
    own_level: float,
    prior_count: float,
    timing: str | None,
    amc: bool,
    move_skill: bool,
    direction: float | None,
    calibration: Calibration,
    reference_calibration: Calibration,
    reference_shape: list[float],
    scale_mean: float,
) -> None:
    if special[1] is not None:
        raw[special[0]] = special[1]
    reference = ScaledHistory(scale_mean * 1.1, reference_shape, 0.1, 0.45)
    models = _Models(MoveSizeModel(scale_mean, calibration, reference, reference_calibration, 50))
    names = [*(QUANTILE_NAMES if move_skill else ()), *(["direction"] if direction is not None else [])]
    served = _Served(move_skill, direction is not None, False, names)
    outputs = {name: np.array([value]) for name, value in zip(QUANTILE_NAMES, raw, strict=True)}
    outputs["direction"] = np.array([direction if direction is not None else 0.5])
    rows = EnsembleRows(
        x=np.zeros((1, 1)),
        own_level=np.array([own_level]),
        prior_count=np.array([prior_count]),
        tickers=["ABC"],
        timings=None if timing is None else [timing],
    )
    amc_timing = timing if amc else None
    try:
        expected = _results(models, rows, served, outputs, amc)[0]  # type: ignore[arg-type]
    except OverflowError:  # an infinite count of prior moves: no int
        return
    one = _one_on_floats(models.move_size, served, outputs, (own_level, prior_count), amc_timing)
    if one is not None:
        assert _bits({"ticker": "ABC", **one}) == _bits(expected)


def test_a_plain_row_is_forecast_on_floats() -> None:
    """The common row (positive forecasts, a tail of Python floats) takes the float path (it does not decline)."""
    calibration = Calibration(shifts=[-0.1, 0.0, 0.0, 0.1, 0.2], stratum_shifts={"0": [-0.2, 0, 0, 0.2, 0.3]})
    models = MoveSizeModel(3.0, calibration, ScaledHistory(3.0, [0.2, 0.5, 1.0, 1.6, 2.4], 0.1, 0.45), calibration, 50)
    outputs = {name: np.array([value]) for name, value in zip(QUANTILE_NAMES, [0.2, 0.5, 1.0, 1.5, 2.2], strict=True)}
    served = _Served(True, False, False, list(QUANTILE_NAMES))
    assert _one_on_floats(models, served, outputs, (math.nan, 0.0), "AMC") is not None

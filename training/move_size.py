"""What the move-size forecast keeps besides its boosters: plain numbers, stored with the model (JSON).

- `scale_mean`: the training window's mean trusted |move|, the level `training.scaling.history_scale` shrinks
  each event's own history towards (the boosters forecast |move| / s).
- `calibration`: the conformal shifts, thin-history widening and generalized Pareto tail of the model's
  quantiles (`training.calibration.calibrate_window` on the training window's latest slices).
- `reference` and `reference_calibration`: the trusted scaled-history forecaster (`training.reference`) fitted
  on the same window and calibrated the same way: what serving uses where the model has no pinball skill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.calibration import Calibration
from ivcrush.training.reference import ScaledHistory

# The reference's columns next to the model's (predictions, evaluation rows)
REFERENCE_NAMES = tuple(f"ref_{name}" for name in QUANTILE_NAMES)


@dataclass
class MoveSizeModel:
    """The move-size forecast's numbers (see the module docstring)."""

    scale_mean: float
    calibration: Calibration
    reference: ScaledHistory
    reference_calibration: Calibration
    quantile_rounds: int

    def to_dict(self) -> dict[str, object]:
        return {
            "scale_mean": self.scale_mean,
            "calibration": self.calibration.to_dict(),
            "reference": self.reference.to_dict(),
            "reference_calibration": self.reference_calibration.to_dict(),
            "quantile_rounds": self.quantile_rounds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MoveSizeModel:
        return cls(
            scale_mean=float(data["scale_mean"]),  # type: ignore[arg-type]
            calibration=Calibration.from_dict(data["calibration"]),  # type: ignore[arg-type]
            reference=ScaledHistory.from_dict(data["reference"]),  # type: ignore[arg-type]
            reference_calibration=Calibration.from_dict(data["reference_calibration"]),  # type: ignore[arg-type]
            quantile_rounds=int(data["quantile_rounds"]),  # type: ignore[call-overload]
        )

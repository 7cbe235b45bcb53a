"""The registered model as serving holds it: the same boosters, features and calibration, with each booster
predicting from the feature matrix's values.

LightGBM checks and converts a pandas frame on every `predict` (about 0.3 ms per call for one row, most of a
prediction's model time); serving's frames are `training.train.feature_matrix`'s float64 columns in the
model's feature order, so their values are what LightGBM would convert them to. One thread per call: a
request predicts a few rows, where waking the thread pool costs more than it saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import lightgbm as lgb

    from ivcrush.training.registry import LoadedModel


@dataclass(frozen=True)
class ArrayBooster:
    """A LightGBM booster fed the values of a float64 feature frame."""

    booster: lgb.Booster = field(repr=False)
    features: tuple[str, ...]  # the booster's feature names, in its order

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        if tuple(x.columns) != self.features:
            raise ValueError("the feature frame's columns are not the booster's features, in its order")
        return np.asarray(self.booster.predict(x.to_numpy(dtype="float64"), num_threads=1))


def serving_model(model: LoadedModel) -> LoadedModel:
    """The model with its boosters predicting from arrays (the same predictions)."""
    boosters = {name: ArrayBooster(booster, tuple(booster.feature_name())) for name, booster in model.boosters.items()}
    return replace(model, boosters=boosters)  # type: ignore[arg-type]  # the boosters' one method used here

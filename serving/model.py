"""The registered model as serving holds it, checked to serve the published generation (`check_serving_state`):
the same boosters, features and calibration, with the boosters compiled once (when the serving state loads) into
one forest that predicts them together from the feature array (`ivcrush.serving.forest`: LightGBM's predictions
exactly, without its ~0.3 ms per `predict` call).

A booster the forest cannot reproduce (categorical splits, linear trees, ...) keeps `booster.predict`, on one
thread: a request predicts a few rows, where waking the thread pool costs more than it saves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ivcrush.serving.forest import compile_boosters
from ivcrush.serving.online import NotServableError
from ivcrush.settings import Settings
from ivcrush.training import LIGHTGBM_THREADS
from ivcrush.training.registry import RegistryError, StoredBoosters, load_latest
from ivcrush.workspace import Generation, current_build

if TYPE_CHECKING:
    import lightgbm as lgb

    from ivcrush.training.registry import LoadedModel


class ServingBoosters(Mapping[str, "lgb.Booster"]):
    """A model's LightGBM boosters by name, predicting together from a float64 array of the model's features
    (`predict_many`, what `ivcrush.training.predict.ensemble` uses)."""

    def __init__(self, boosters: Mapping[str, lgb.Booster], features: Sequence[str]) -> None:
        self._boosters = boosters
        self.features = tuple(features)
        # registered boosters compile from their files' text: LightGBM is loaded only for a fallback booster
        texts = boosters.text_models() if isinstance(boosters, StoredBoosters) else boosters
        # the boosters the forest cannot reproduce, with the reason: they predict with booster.predict
        self.forest, self.fallback = compile_boosters(texts, self.features)

    def __getitem__(self, name: str) -> lgb.Booster:
        return self._boosters[name]

    def __contains__(self, name: object) -> bool:  # Mapping's would load the booster
        return name in self._boosters

    def __iter__(self) -> Iterator[str]:
        return iter(self._boosters)

    def __len__(self) -> int:
        return len(self._boosters)

    def predict_many(self, x: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each named booster's predictions for the rows of `x` ((n, features) float64, in the model's order)."""
        out = self.forest.predict(x, [name for name in names if name not in self.fallback])
        for name in names:
            if name in self.fallback:
                booster = self._boosters[name]
                if tuple(booster.feature_name()) != self.features:
                    raise ValueError(f"booster {name} does not read the model's features, in its order")
                out[name] = np.asarray(booster.predict(x, num_threads=LIGHTGBM_THREADS))
        return {name: out[name] for name in names}


def serving_model(model: LoadedModel) -> LoadedModel:
    """The model with its boosters compiled to predict together (the same predictions); NotServableError where
    its booster files are missing, unreadable or not whole models (the state then refuses every request)."""
    try:
        boosters = ServingBoosters(model.boosters, model.features)
    except RegistryError as exc:
        raise NotServableError(str(exc)) from exc
    except (ValueError, KeyError) as exc:
        raise NotServableError(
            f"model {model.model_id}: a booster's text model cannot be read ({exc}); run `ivcrush train`"
        ) from exc
    return replace(model, boosters=boosters)  # type: ignore[arg-type]


def check_serving_state(settings: Settings, generation: Generation) -> LoadedModel:
    """The generation must come from the latest build and serve the model's feature service; else refuse.

    The latest build's manifest is read only to compare its id: nothing is served from it.
    """
    latest = current_build(settings)
    if latest is None or generation.build_id != latest.build_id:
        raise NotServableError(
            f"the online store was built from build {generation.build_id}, older than the latest build "
            f"{latest.build_id if latest else '(none)'}; run `ivcrush materialize`"
        )
    try:
        model = load_latest(settings.workdir)
    except RegistryError as exc:
        raise NotServableError(f"{exc}; run `ivcrush train`") from exc
    service = model.metadata.get("feature_service")
    service = service.get("name") if isinstance(service, dict) else service
    if service != generation.feature_service:
        raise NotServableError(
            f"the model {model.model_id} was trained with feature service {service}, the online store serves "
            f"{generation.feature_service}; retrain (`ivcrush train`) or re-materialize"
        )
    return model

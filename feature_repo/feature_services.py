"""Feature services: the exact feature list each model version uses. Training and serving both take their
features from `MODEL_FEATURES` (`feature_names`, Feast-free; served through the service named
`FEATURE_SERVICE_NAME`), so they cannot drift."""

from __future__ import annotations

from feast import FeatureService, FeatureView

from ivcrush.feature_repo.feature_names import FEATURE_SERVICE_NAME, MODEL_FEATURES


def feature_services(views: list[FeatureView]) -> list[FeatureService]:
    """The model's feature service over the given views."""
    by_name = {view.name: view for view in views}
    return [
        FeatureService(
            name=FEATURE_SERVICE_NAME,
            features=[by_name[view][names] for view, names in MODEL_FEATURES.items()],
            description="Features of the move-size, direction and IV-crush models, version 1.",
        )
    ]

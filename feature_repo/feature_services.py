"""Feature services: the exact feature list each model version uses. Training and serving both take their
features from `MODEL_FEATURES` (through the service named `FEATURE_SERVICE_NAME`), so they cannot drift."""

from __future__ import annotations

from feast import FeatureService, FeatureView

from ivcrush.feature_repo.features import FEATURE_FIELDS

FEATURE_SERVICE_NAME = "earnings_move_v1"

# Everything but identifiers: `event_id` is served for checking which event a row describes, and the
# timing string is carried by cal_is_amc / cal_is_bmo.
NOT_MODEL_FEATURES = {"event_id", "cal_timing"}

MODEL_FEATURES: dict[str, list[str]] = {
    view: [field.name for field in fields if field.name not in NOT_MODEL_FEATURES]
    for view, fields in FEATURE_FIELDS.items()
}
MODEL_FEATURE_COLUMNS: list[str] = [name for names in MODEL_FEATURES.values() for name in names]


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

"""Reading a model needs only the feature names: importing them, the training code and the model registry
imports no Feast (nor ibis); the Feast views are built from the same names."""

from __future__ import annotations

import subprocess
import sys

from ivcrush.feature_repo.feature_names import FEATURE_NAMES, MODEL_FEATURE_COLUMNS, NOT_MODEL_FEATURES


def test_reading_a_model_imports_no_feast() -> None:
    code = (
        "import sys, ivcrush.feature_repo.feature_names, ivcrush.feature_repo.store, ivcrush.feature_repo.day_view,"
        " ivcrush.training.train, ivcrush.training.registry;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'feast', 'ibis'}))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_the_views_are_built_from_the_names() -> None:
    from ivcrush.feature_repo.features import FEATURE_FIELDS

    assert {view: [field.name for field in fields] for view, fields in FEATURE_FIELDS.items()} == {
        view: [name for name, _ in features] for view, features in FEATURE_NAMES.items()
    }
    assert not NOT_MODEL_FEATURES & set(MODEL_FEATURE_COLUMNS)
    assert len(MODEL_FEATURE_COLUMNS) == len(set(MODEL_FEATURE_COLUMNS))

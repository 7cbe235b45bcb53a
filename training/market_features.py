"""Walk-forward evaluation with and without the market store's features (daily prices, index/VIX series,
option quotes) on the same training set: the same events, labels and folds, only the feature list differs,
so the difference is what the market data adds to the forecast."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from ivcrush.feature_repo.feature_names import MARKET_STORE_FEATURES, MODEL_FEATURE_COLUMNS
from ivcrush.settings import Settings
from ivcrush.training.data import training_set
from ivcrush.training.evaluate import evaluate
from ivcrush.workspace import published

# (label, path into the metrics) of the figures compared; lower is better except coverage (target 0.80)
COMPARED = {
    "MAE (trusted)": ("trusted", "move_size", "model", "mae"),
    "mean pinball (trusted)": ("trusted", "quantiles", "model", "mean_pinball"),
    "80% coverage (trusted)": ("trusted", "quantiles", "model", "coverage_80"),
    "pinball gain vs reference": ("trusted", "gate", "targets", "pinball", "gain"),
    "MAE, AMC events": ("trusted", "by_timing", "AMC", "move_size", "model", "mae"),
    "MAE, BMO events": ("trusted", "by_timing", "BMO", "move_size", "model", "mae"),
}


def _figure(metrics: dict, path: tuple[str, ...]) -> float | None:
    value: object = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def compare_market_features(settings: Settings, *, folds: int = 4, out_dir: Path | None = None) -> dict:
    """Evaluate the published training set twice (all model features; without MARKET_STORE_FEATURES) and
    return both sets of figures with their differences; writes comparison.json beside both evaluations."""
    generation = published(settings)
    dataset = training_set(settings, generation=generation)
    out_dir = out_dir or settings.workdir / "evaluations" / f"market-features-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    present = [c for c in MARKET_STORE_FEATURES if c in dataset.columns and dataset[c].notna().any()]
    without = [c for c in MODEL_FEATURE_COLUMNS if c not in MARKET_STORE_FEATURES]
    runs = {
        name: evaluate(
            settings,
            folds=folds,
            dataset=dataset,
            generation=generation,
            out_dir=Path(out_dir) / name,
            features=features,
        )
        for name, features in (("with", None), ("without", without))
    }
    rows = []
    for label, path in COMPARED.items():
        with_value, without_value = (_figure(runs[name], path) for name in ("with", "without"))
        difference = None if with_value is None or without_value is None else with_value - without_value
        rows.append({"figure": label, "with": with_value, "without": without_value, "difference": difference})
    result = {
        "build_id": generation.build_id,
        "folds": folds,
        "market_features_with_values": present,
        "note": (
            "the build has no market-store features (no prices or quotes): both runs use the same features"
            if not present
            else f"{len(present)} market-store features have values; labels and folds are the same in both runs"
        ),
        "trusted_events": _figure(runs["with"], ("trusted", "n")),
        "figures": rows,
        "out_dir": str(out_dir),
    }
    Path(out_dir, "comparison.json").write_text(json.dumps(result, indent=2))
    return result

"""Where walk-forward evaluations are kept: `<workdir>/evaluations/<id>/metrics.json` (light: no trainer, no
Feast, so the backtests and the release can find one cheaply)."""

from __future__ import annotations

import json

from ivcrush.settings import Settings


def latest_evaluation(settings: Settings, build_id: str | None = None) -> dict[str, object] | None:
    """The newest (by created_at) metrics.json under `<workdir>/evaluations/*/` (of `build_id` if given), or None;
    its folder in the key "path"."""
    folder = settings.workdir / "evaluations"
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("*/metrics.json"):
        metrics = json.loads(path.read_text())
        if build_id is None or metrics.get("dataset", {}).get("build_id") == build_id:
            metrics["path"] = str(path.parent)
            found.append(metrics)
    return max(found, key=lambda m: str(m.get("created_at", ""))) if found else None

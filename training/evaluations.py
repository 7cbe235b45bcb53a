"""Where walk-forward evaluations are kept: `<workdir>/evaluations/<id>/metrics.json` (light: no trainer, no
Feast, so the backtests and the release can find one cheaply)."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from ivcrush.settings import Settings

TRAINING_PACKAGE = Path(__file__).parent


@cache
def training_code() -> str:
    """A fingerprint of the training code (every module of this package): an evaluation or a model made by
    other code is not reused."""
    digest = hashlib.sha256()
    for path in sorted(TRAINING_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(TRAINING_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def latest_evaluation(settings: Settings, build_id: str | None = None) -> dict[str, Any] | None:
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

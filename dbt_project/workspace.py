"""The workspace: where builds and feature-store generations live, and which of them is published.

Plain files only (JSON manifests, a symlink, a pointer file): every layer can resolve the published build
and generation here once and pass them down, without importing dbt or Feast.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.settings import Settings

MARTS = (
    "earnings_events",
    "event_labels",
    "historical_move_features",
    "volatility_features",
    "market_regime_features",
    "calendar_features",
    "options_features",
)
BUILD_MANIFEST = "build.json"
POINTER = "current.json"


class NotPublishedError(IvcrushError):
    """Nothing has been published yet where a command needs it; the message names the command to run."""


@dataclass(frozen=True)
class BuildResult:
    build_id: str
    build_dir: str
    source_db: str
    source_fingerprint: str
    amc_labels_untrusted: bool
    built_at: str
    row_counts: dict[str, int]
    seconds: dict[str, float]
    quality_errors: int = 0
    quality_warnings: list[str] = field(default_factory=list)


def mart_path(build_dir: Path, mart: str) -> Path:
    return build_dir / "marts" / f"{mart}.parquet"


def current_build(settings: Settings) -> BuildResult | None:
    """The published build, or None where nothing has been built yet."""
    manifest = settings.current_build / BUILD_MANIFEST
    if not manifest.is_file():
        return None
    return BuildResult(**json.loads(manifest.read_text()))


@dataclass(frozen=True)
class Generation:
    """What a published feature-store generation holds."""

    generation_id: str
    project: str
    build_id: str
    build_dir: str
    feature_service: str
    as_of: str
    materialized_until: str
    online_store: str
    online_rows: int
    published_at: str

    def path(self, feast_dir: Path) -> Path:
        return feast_dir / "generations" / self.generation_id


def read_pointer(feast_dir: Path) -> Generation | None:
    pointer = feast_dir / POINTER
    if not pointer.is_file():
        return None
    return Generation(**json.loads(pointer.read_text()))


def write_pointer(feast_dir: Path, generation: Generation) -> None:
    pointer = feast_dir / POINTER
    temporary = pointer.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(generation), indent=2))
    os.replace(temporary, pointer)


def published(settings: Settings) -> Generation:
    """The published generation, or a NotPublishedError telling the user to materialize."""
    generation = read_pointer(settings.feast_dir)
    if generation is None:
        raise NotPublishedError("the feature store has not been published; run `ivcrush materialize` first")
    return generation


def next_earnings_date(build: BuildResult | None) -> date | None:
    """The first earnings date after the build's last stored outcome: the day the main job prepares for."""
    if build is None:
        raise NotPublishedError("no published build in the workspace; run `ivcrush build` first")
    events = pd.read_parquet(
        mart_path(Path(build.build_dir), "earnings_events"), columns=["earnings_date", "has_outcome"]
    )
    last_outcome = events.loc[events["has_outcome"], "earnings_date"].max()
    upcoming = events.loc[events["earnings_date"] > last_outcome, "earnings_date"]
    return None if upcoming.empty else pd.Timestamp(upcoming.min()).date()

"""The generations of the feature store: their records, what serving needs of them, their clean-up.

A generation is made in its own folder (its record `intent.json` first), registered by Feast apply, its
online store loaded, and published: its manifest written, then the pointer moved to it in one rename. A
folder without its manifest is half-made: removed with its online rows (Redis too, where the server answers).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivcrush.feature_repo.feature_names import FEATURE_SERVICE_NAME
from ivcrush.feature_repo.packed import PACKED_VIEW, packed_layout
from ivcrush.feature_repo.store import generation_redis_url, open_store, recorded_redis_url
from ivcrush.settings import Settings
from ivcrush.workspace import (
    GENERATION_MANIFEST,
    Generation,
    complete_folders,
    current_build,
    read_pointer,
    sweep,
    write_pointer,
)

if TYPE_CHECKING:
    from feast import FeatureStore

GENERATIONS_KEPT = 2
INTENT = "intent.json"  # the generation's record while it is being made


def as_of_end(as_of: date) -> datetime:
    """Online rows are those of events decided up to the end of `as_of` (UTC)."""
    return datetime.combine(as_of, clock_time(23, 59, 59), tzinfo=UTC)


def online_layout(store: FeatureStore, folder: Path) -> dict[str, Any]:
    """What serving needs to read the generation's online rows without Feast: the SQLite online-store file
    (relative to the generation's folder), each view's table and its features' Feast value types, each feature
    service's features by view, how entity keys are serialized, and the packed view's layout (`packed`; where
    it is registered)."""
    from feast.infra.online_stores.helpers import compute_table_id

    config = store.config
    versioned = config.registry.enable_online_feature_view_versioning
    views = {
        view.name: {
            "table": compute_table_id(config.project, view, versioned),
            "features": {field.name: field.dtype.to_value_type().name for field in view.features},
        }
        for view in store.list_feature_views()
    }
    services = {
        service.name: {p.name: [f.name for f in p.features] for p in service.feature_view_projections}
        for service in store.list_feature_services()
    }
    path = Path(config.online_store.path) if config.online_store.type == "sqlite" else None
    layout = {
        "online_store_file": str(path.relative_to(folder)) if path is not None else "",
        "entity_key_serialization_version": config.entity_key_serialization_version,
        "views": views,
        "feature_services": services,
    }
    return {**layout, "packed": packed_layout()} if PACKED_VIEW in views else layout


def drop_generation(settings: Settings, generation: Generation, reachable: bool = True) -> None:
    """Remove a generation's folder and (best effort, where the server answers) its Redis rows."""
    folder = generation.path(settings.feast_dir)
    if generation.online_store == "redis" and reachable and (folder / "registry.db").is_file():
        with contextlib.suppress(Exception):  # best effort: without a registry there is nothing to tear down
            open_store(folder, generation.project, "redis", generation_redis_url(settings, generation)).teardown()
    shutil.rmtree(folder, ignore_errors=True)


def sweep_half_made(settings: Settings) -> None:
    """Remove the generations a killed materialize left without their manifest (the caller holds the lock)."""
    folder = settings.feast_dir / "generations"
    for half_made in [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []:
        if (half_made / GENERATION_MANIFEST).is_file():
            continue
        intent = half_made / INTENT
        if intent.is_file():
            with contextlib.suppress(ValueError, TypeError):
                drop_generation(settings, Generation(**json.loads(intent.read_text())))
    sweep(folder, GENERATION_MANIFEST)


def publish_generation(settings: Settings, generation: Generation) -> Generation:
    """Write the loaded generation's manifest and move the pointer to it; the generation as published."""
    generation = replace(generation, published_at=datetime.now(UTC).isoformat())
    (generation.path(settings.feast_dir) / GENERATION_MANIFEST).write_text(json.dumps(asdict(generation), indent=2))
    write_pointer(settings.feast_dir, generation)
    return generation


def prune_generations(settings: Settings, generation: Generation) -> None:
    """Drop all but the newest generations; never the published `generation`."""
    for old in complete_folders(settings.feast_dir / "generations", GENERATION_MANIFEST)[:-GENERATIONS_KEPT]:
        kept = Generation(**json.loads((old / GENERATION_MANIFEST).read_text()))
        if kept.generation_id != generation.generation_id:
            drop_generation(settings, kept)


def unchanged_generation(settings: Settings, as_of: date) -> Generation | None:
    """The published generation where it holds what a new one would: the current build, as of the same day,
    in the same online store (and Redis server) that the settings name; else None."""
    build, generation = current_build(settings), read_pointer(settings.feast_dir)
    if build is None or generation is None:
        return None
    redis = settings.online_store == "redis"
    same = (
        generation.build_id == build.build_id
        and generation.as_of == as_of.isoformat()
        and generation.feature_service == FEATURE_SERVICE_NAME
        and generation.online_store == settings.online_store
        and generation.online_store_url == (recorded_redis_url(settings.redis_url) if redis else "")
        and (generation.path(settings.feast_dir) / GENERATION_MANIFEST).is_file()
        and "packed" in generation.online_layout  # one published without the packed view is made again
    )
    return generation if same else None

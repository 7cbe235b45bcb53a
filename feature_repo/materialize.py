"""`ivcrush materialize`: register the current build in Feast and load its online store, atomically.

A new generation is applied and materialized in its own folder and Feast project; only when every view
is loaded does the pointer move to it. A failure midway removes the half-made generation (its online rows
too) and leaves the previous one published and readable; a killed run leaves a folder without its
manifest, which the next materialize sweeps away (with its Redis rows where the server answers).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import warnings
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ivcrush import progress
from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.feature_names import FEATURE_SERVICE_NAME
from ivcrush.feature_repo.store import (
    generation_redis_url,
    is_unreachable,
    online_store_errors,
    open_store,
    recorded_redis_url,
)
from ivcrush.settings import Settings
from ivcrush.workers import terminate_unwinds
from ivcrush.workspace import (
    GENERATION_MANIFEST,
    Generation,
    complete_folders,
    current_build,
    exclusive,
    mart_path,
    read_pointer,
    sweep,
    write_pointer,
)

if TYPE_CHECKING:
    from feast import FeatureStore

GENERATIONS_KEPT = 2
INTENT = "intent.json"  # the generation's record while it is being made


class MaterializeError(IvcrushError):
    """Nothing could be published to the feature store; the message says why."""


def as_of_end(as_of: date) -> datetime:
    """Online rows are those of events decided up to the end of `as_of` (UTC)."""
    return datetime.combine(as_of, clock_time(23, 59, 59), tzinfo=UTC)


def online_layout(store: FeatureStore, folder: Path) -> dict[str, Any]:
    """What serving needs to read the generation's online rows without Feast: the SQLite online-store file
    (relative to the generation's folder), each view's table and its features' Feast value types, each feature
    service's features by view, and how entity keys are serialized."""
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
    return {
        "online_store_file": str(path.relative_to(folder)) if path is not None else "",
        "entity_key_serialization_version": config.entity_key_serialization_version,
        "views": views,
        "feature_services": services,
    }


def _drop_generation(settings: Settings, generation: Generation, reachable: bool = True) -> None:
    """Remove a generation's folder and (best effort, where the server answers) its Redis rows."""
    folder = generation.path(settings.feast_dir)
    if generation.online_store == "redis" and reachable and (folder / "registry.db").is_file():
        with contextlib.suppress(Exception):  # best effort: without a registry there is nothing to tear down
            open_store(folder, generation.project, "redis", generation_redis_url(settings, generation)).teardown()
    shutil.rmtree(folder, ignore_errors=True)


def _sweep_half_made(settings: Settings) -> None:
    """Remove the generations a killed materialize left without their manifest."""
    folder = settings.feast_dir / "generations"
    for half_made in [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []:
        if (half_made / GENERATION_MANIFEST).is_file():
            continue
        intent = half_made / INTENT
        if intent.is_file():
            with contextlib.suppress(ValueError, TypeError):
                _drop_generation(settings, Generation(**json.loads(intent.read_text())))
    sweep(folder, GENERATION_MANIFEST)


def _prune(settings: Settings, keep: Generation) -> None:
    """Drop all but the newest generations; never the published one."""
    for old in complete_folders(settings.feast_dir / "generations", GENERATION_MANIFEST)[:-GENERATIONS_KEPT]:
        generation = Generation(**json.loads((old / GENERATION_MANIFEST).read_text()))
        if generation.generation_id != keep.generation_id:
            _drop_generation(settings, generation)


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
        and bool(generation.online_layout)  # one published before the layout was recorded is made again
    )
    return generation if same else None


def materialize(settings: Settings, as_of: date | None = None, *, reuse: bool = False) -> Generation:
    """Apply the feature repo over the current build and materialize it into a new online generation (with
    `reuse`: unless the published one holds the same, `unchanged_generation`, which is returned).

    One materialize at a time per workspace; SIGTERM unwinds it like any failure."""
    with terminate_unwinds(), exclusive(settings, "materialize"):
        _sweep_half_made(settings)
        unchanged = unchanged_generation(settings, as_of or datetime.now(UTC).date()) if reuse else None
        return unchanged or _materialize(settings, as_of)


def _materialize(settings: Settings, as_of: date | None) -> Generation:
    from ivcrush.feature_repo.entities import ticker
    from ivcrush.feature_repo.feature_services import feature_services
    from ivcrush.feature_repo.features import QUARTERLY_TTL, feature_views

    build = current_build(settings)
    if build is None:
        raise MaterializeError("no published build in the workspace; run `ivcrush build` first")
    if build.quality_errors:
        raise MaterializeError(
            f"refusing to publish build {build.build_id}: it failed {build.quality_errors} error-severity "
            "data-quality check(s); see `ivcrush validate`"
        )
    build_dir = Path(build.build_dir)
    as_of = as_of or datetime.now(UTC).date()
    end = as_of_end(as_of)
    now = datetime.now(UTC)
    generation_id = f"{now:%Y%m%dT%H%M%S%f}"
    redis = settings.online_store == "redis"
    generation = Generation(
        generation_id=generation_id,
        project=f"ivcrush_{generation_id}",
        build_id=build.build_id,
        build_dir=str(build_dir),
        feature_service=FEATURE_SERVICE_NAME,
        as_of=as_of.isoformat(),
        materialized_until=end.isoformat(),
        online_store=settings.online_store,
        online_rows=0,
        published_at=now.isoformat(),
        online_store_url=recorded_redis_url(settings.redis_url) if redis else "",
    )
    folder = generation.path(settings.feast_dir)
    folder.mkdir(parents=True)
    try:
        (folder / INTENT).write_text(json.dumps(asdict(generation), indent=2))
        with online_store_errors(settings.online_store, settings.redis_url):
            progress.step("registering the feature views (Feast apply)")
            store = open_store(folder, generation.project, settings.online_store, settings.redis_url)
            views = feature_views(build_dir / "marts")
            store.apply([ticker, *views, *feature_services(views)])
            progress.step(f"loading the {settings.online_store} online store as of {as_of}")
            quiet = contextlib.nullcontext() if settings.tool_output else contextlib.redirect_stdout(io.StringIO())
            with quiet, warnings.catch_warnings():
                if not settings.tool_output:
                    warnings.simplefilter("ignore")  # Feast prints progress bars; ibis warns on every query
                store.materialize(start_date=end - QUARTERLY_TTL, end_date=end)
        events = pd.read_parquet(mart_path(build_dir, "earnings_events"), columns=["ticker", "event_timestamp"])
        in_window = events[(events["event_timestamp"] <= end) & (events["event_timestamp"] > end - QUARTERLY_TTL)]
        generation = replace(
            generation,
            online_rows=int(in_window["ticker"].nunique()),
            published_at=datetime.now(UTC).isoformat(),
            online_layout=online_layout(store, folder),
        )
        (folder / GENERATION_MANIFEST).write_text(json.dumps(asdict(generation), indent=2))
        write_pointer(settings.feast_dir, generation)
    except BaseException as exc:
        _drop_generation(settings, generation, reachable=not is_unreachable(exc.__cause__ or exc))
        raise
    _prune(settings, generation)
    return generation

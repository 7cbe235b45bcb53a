"""`ivcrush materialize`: register the current build in Feast and load its online store, atomically.

A new generation is registered (Feast apply) and its online store loaded in its own folder and Feast
project; only when every view is loaded does the pointer move to it. `Materializing` holds the stages: the
main job loads the online store in a forked process (`online_load.BackgroundLoad`) while it retrieves the
training set and evaluates, which read the registry and the offline store only, and publishes before it
registers a model or scans. A failure midway (or SIGTERM, Ctrl-C) removes the half-made generation (its
online rows too) and leaves the previous one published and readable; a killed run leaves a folder without
its manifest, which the next materialize sweeps away (with its Redis rows where the server answers).
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType

import pandas as pd

from ivcrush import progress
from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.feature_names import FEATURE_SERVICE_NAME
from ivcrush.feature_repo.generations import (
    INTENT,
    as_of_end,
    drop_generation,
    online_layout,
    prune_generations,
    publish_generation,
    sweep_half_made,
    unchanged_generation,
)
from ivcrush.feature_repo.online_load import BackgroundLoad, load_online_store
from ivcrush.feature_repo.store import is_unreachable, online_store_errors, open_store, recorded_redis_url
from ivcrush.settings import Settings
from ivcrush.workers import terminate_unwinds
from ivcrush.workspace import Generation, current_build, exclusive, mart_path

UNCHANGED_NOTE = "the previously published online store (if any) is unchanged"


class MaterializeError(IvcrushError):
    """Nothing could be published to the feature store; the message says why."""


class Materializing:
    """A new generation of the current build: registered (Feast apply) on entering the block, its online store
    loaded by `publish()` (with `background`: meanwhile, in a forked process started on entering), which then
    publishes it; leaving the block normally publishes too. Leaving it by an exception (SIGTERM, Ctrl-C too)
    before that stops the loading and drops the generation: the previous one stays published. With `reuse`,
    the published generation where it holds the same (`unchanged_generation`; `reused`): nothing is made.
    One materialize at a time per workspace: the lock is held until the generation is published or dropped.
    `generation` is usable for the offline store (training sets) from entering, for the online rows once
    published."""

    def __init__(
        self, settings: Settings, as_of: date | None = None, *, reuse: bool = False, background: bool = False
    ) -> None:
        self.settings = settings
        self.as_of = as_of or datetime.now(UTC).date()
        self.generation: Generation | None = None
        self.reused = False
        self.published = False
        self._reuse, self._background = reuse, background
        self._made: Generation | None = None  # the generation whose folder this made (dropped on failure)
        self._loading: BackgroundLoad | None = None
        self._held = ExitStack()  # SIGTERM unwinding, the workspace's materialize lock
        self.started = 0.0  # time.perf_counter() on entering the block

    def __enter__(self) -> Materializing:
        self.started = time.perf_counter()
        try:
            self._held.enter_context(terminate_unwinds())
            self._held.enter_context(exclusive(self.settings, "materialize"))
            sweep_half_made(self.settings)
            unchanged = unchanged_generation(self.settings, self.as_of) if self._reuse else None
            if unchanged is not None:
                self.generation, self.reused, self.published = unchanged, True, True
                self._held.close()
                return self
            self.generation = self._register()
            if self._background:
                store = self.settings.online_store
                progress.step(f"starting to load the {store} online store as of {self.as_of} (in a forked process)")
                self._loading = BackgroundLoad(self.settings, self.generation)
        except BaseException as exc:
            self._abandon(exc)
            raise
        return self

    def publish(self) -> Generation:
        """Load the online store (or wait for its loading), then publish the generation; return it as published.
        A failure drops the generation and is raised."""
        if self.published:
            assert self.generation is not None
            return self.generation
        assert self.generation is not None, "publish() is called within the block"
        try:
            if self._loading is None:
                progress.step(f"loading the {self.settings.online_store} online store as of {self.as_of}")
                load_online_store(self.settings, self.generation)
            else:
                progress.step(f"waiting for the {self.settings.online_store} online store to be loaded")
                self._loading.wait()
            self.generation = publish_generation(self.settings, self.generation)
            self.published = True
        except BaseException as exc:
            self._abandon(exc)
            raise
        try:
            prune_generations(self.settings, self.generation)
        finally:
            self._held.close()
        return self.generation

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.published:
            return
        if exc is None:
            self.publish()
        else:
            self._abandon(exc)

    def _abandon(self, exc: BaseException) -> None:
        """Stop the loading, drop the half-made generation, release the lock (once); note on the error that the
        published generation is unchanged."""
        if isinstance(exc, IvcrushError):
            exc.add_note(UNCHANGED_NOTE)
        try:
            if self._loading is not None:
                self._loading.stop()
            if self._made is not None:
                unreachable = is_unreachable(exc.__cause__ or exc) or bool(self._loading and self._loading.unreachable)
                drop_generation(self.settings, self._made, reachable=not unreachable)
                self._made = None
        finally:
            self._held.close()

    def _register(self) -> Generation:
        """Make the generation's folder and record, and register the build's views in Feast (apply)."""
        from ivcrush.feature_repo.entities import ticker
        from ivcrush.feature_repo.feature_services import feature_services
        from ivcrush.feature_repo.features import QUARTERLY_TTL, feature_views, packed_view

        settings = self.settings
        build = current_build(settings)
        if build is None:
            raise MaterializeError("no published build in the workspace; run `ivcrush build` first")
        if build.quality_errors:
            raise MaterializeError(
                f"refusing to publish build {build.build_id}: it failed {build.quality_errors} error-severity "
                "data-quality check(s); see `ivcrush validate`"
            )
        build_dir = Path(build.build_dir)
        end = as_of_end(self.as_of)
        now = datetime.now(UTC)
        generation_id = f"{now:%Y%m%dT%H%M%S%f}"
        redis = settings.online_store == "redis"
        generation = Generation(
            generation_id=generation_id,
            project=f"ivcrush_{generation_id}",
            build_id=build.build_id,
            build_dir=str(build_dir),
            feature_service=FEATURE_SERVICE_NAME,
            as_of=self.as_of.isoformat(),
            materialized_until=end.isoformat(),
            online_store=settings.online_store,
            online_rows=0,
            published_at=now.isoformat(),
            online_store_url=recorded_redis_url(settings.redis_url) if redis else "",
        )
        folder = generation.path(settings.feast_dir)
        folder.mkdir(parents=True)
        self._made = generation
        (folder / INTENT).write_text(json.dumps(asdict(generation), indent=2))
        with online_store_errors(settings.online_store, settings.redis_url):
            progress.step("registering the feature views (Feast apply)")
            store = open_store(folder, generation.project, settings.online_store, settings.redis_url)
            views = feature_views(build_dir / "marts")
            store.apply([ticker, *views, packed_view(folder), *feature_services(views)])
        events = pd.read_parquet(mart_path(build_dir, "earnings_events"), columns=["ticker", "event_timestamp"])
        in_window = events[(events["event_timestamp"] <= end) & (events["event_timestamp"] > end - QUARTERLY_TTL)]
        return replace(
            generation, online_rows=int(in_window["ticker"].nunique()), online_layout=online_layout(store, folder)
        )


def materialize(settings: Settings, as_of: date | None = None, *, reuse: bool = False) -> Generation:
    """Apply the feature repo over the current build and materialize it into a new online generation (with
    `reuse`: unless the published one holds the same, `unchanged_generation`, which is returned).

    One materialize at a time per workspace; SIGTERM unwinds it like any failure."""
    with Materializing(settings, as_of, reuse=reuse) as making:
        return making.publish()

"""The workspace: where builds and feature-store generations live, and which of them is published.

Plain files only (JSON manifests, a symlink, a pointer file): every layer can resolve the published build
and generation here once and pass them down, without importing dbt or Feast. A folder is complete once its
manifest is written: a folder without one is half-made (its process was killed) and is swept away by the
next run of the same kind, which holds the workspace's lock for that kind (`exclusive`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
GENERATION_MANIFEST = "generation.json"
POINTER = "current.json"
BUILDS_KEPT = 3


class NotPublishedError(IvcrushError):
    """Nothing has been published yet where a command needs it; the message names the command to run."""


class WorkspaceError(IvcrushError):
    """The workspace cannot be used: not a folder, not writable, or busy with another run."""


def prepare_workdir(settings: Settings) -> None:
    """Create the workspace (private to its owner) and check that it is a writable folder."""
    workdir = settings.workdir
    if workdir.exists() and not workdir.is_dir():
        raise WorkspaceError(f"workspace {workdir}: exists and is not a folder; choose another with --workdir")
    try:
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryFile(dir=workdir):
            pass
    except OSError as exc:
        raise WorkspaceError(
            f"workspace {workdir}: cannot be written ({exc.strerror or exc}); choose another with --workdir "
            "or IVCRUSH_HOME"
        ) from exc


@contextlib.contextmanager
def exclusive(settings: Settings, kind: str) -> Iterator[None]:
    """Hold the workspace's lock for one kind of run (build, materialize) for the block; refuse a second one."""
    prepare_workdir(settings)
    fd = os.open(settings.workdir / f".{kind}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceError(
                f"another `ivcrush {kind}` is running in the workspace {settings.workdir}; wait until it has finished"
            ) from None
        yield
    finally:
        os.close(fd)


def _complete(folder: Path, manifest: str) -> bool:
    return (folder / manifest).is_file()


def complete_folders(parent: Path, manifest: str) -> list[Path]:
    """The complete folders (manifest written) under `parent`, oldest first (their names are timestamps)."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and _complete(p, manifest))


def sweep(parent: Path, manifest: str, keep: Path | None = None) -> list[Path]:
    """Remove the half-made folders (no manifest) under `parent`, except `keep`; the ones removed. The caller
    holds the lock of their kind: no run of it is making one."""
    if not parent.is_dir():
        return []
    removed = [p for p in parent.iterdir() if p.is_dir() and not _complete(p, manifest) and p != keep]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def prune_builds(settings: Settings) -> None:
    """Keep the newest BUILDS_KEPT complete builds, the current one and the one the published generation uses."""
    keep = {settings.current_build.resolve()}
    generation = read_pointer(settings.feast_dir)
    if generation is not None:
        keep.add(Path(generation.build_dir).resolve())
    for old in complete_folders(settings.builds_dir, BUILD_MANIFEST)[:-BUILDS_KEPT]:
        if old.resolve() not in keep:
            shutil.rmtree(old, ignore_errors=True)


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
    inputs: str = ""  # fingerprint of what the build was made from (`ivcrush.build.build_inputs`); "" before it


def mart_path(build_dir: Path, mart: str) -> Path:
    return build_dir / "marts" / f"{mart}.parquet"


def read_build(build_dir: Path) -> BuildResult | None:
    """The record (manifest) of the build in `build_dir`, or None where there is none (not built, or gone)."""
    manifest = Path(build_dir) / BUILD_MANIFEST
    if not manifest.is_file():
        return None
    return BuildResult(**json.loads(manifest.read_text()))


def current_build(settings: Settings) -> BuildResult | None:
    """The published build, or None where nothing has been built yet."""
    return read_build(settings.current_build)


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
    online_store_url: str = ""  # the Redis server it was written to (without credentials); "" for SQLite
    # What serving reads the online rows by without opening Feast (`feature_repo.generations.online_layout`):
    # the online-store file, each view's table and typed features, the feature services, the key encoding.
    # Empty in a generation published before it was recorded.
    online_layout: dict[str, Any] = field(default_factory=dict)

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
        steps = (
            "`ivcrush materialize`"
            if settings.current_build.exists()
            else "`ivcrush build`, then `ivcrush materialize` (or `ivcrush run` for every stage)"
        )
        raise NotPublishedError(f"the feature store has not been published in {settings.workdir}; run {steps} first")
    return generation


def generation_build(generation: Generation) -> BuildResult | None:
    """The record of the build a generation was made from, or None where that build is gone."""
    return read_build(Path(generation.build_dir))

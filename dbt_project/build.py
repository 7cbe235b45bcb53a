"""`ivcrush build`: snapshot the user's database, run dbt into a fresh build folder, publish atomically.

A build is written into `<workdir>/builds/<id>/` (the DuckDB warehouse and the Parquet marts) and only
when dbt's models and tests all pass does the `<workdir>/current` symlink move to it, in one rename. A
failed build leaves the previous good one published and untouched; a killed one leaves a folder without a
manifest, which the next build sweeps away. dbt and the data-quality suites run in worker processes that
die with the build (`ivcrush.workers`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from ivcrush import progress, workers
from ivcrush.build_runner import PRODUCTION_BUILD, BuildError, dbt_worker
from ivcrush.errors import IvcrushError
from ivcrush.market.store import load_market, market_dir
from ivcrush.quality.report import QualityGateError, QualityReport, gate
from ivcrush.quality.worker import quality_worker
from ivcrush.settings import DBT_PROJECT_DIR, Settings
from ivcrush.source.reader import SourceDataError, SourceSnapshot, read_source
from ivcrush.workspace import (
    BUILD_MANIFEST,
    MARTS,
    BuildResult,
    current_build,
    exclusive,
    mart_path,
    prune_builds,
    sweep,
)

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
PROJECT_FILES = {".sql", ".yml", ".csv", ".py"}  # what a build's models, tests, seeds and suites are made of
NOT_PROJECT_FOLDERS = {"target", "logs", "dbt_packages", "__pycache__"}  # what dbt's own CLI writes there


def check_workdir(settings: Settings, source: Path) -> None:
    """The workspace never lives in the folder of the user's database."""
    if settings.workdir.resolve() == source.resolve().parent:
        raise BuildError(
            f"workspace {settings.workdir} is the folder of the database {source}; "
            "choose another with --workdir or IVCRUSH_HOME"
        )


def load_raw(snapshot: SourceSnapshot, warehouse: Path) -> None:
    """Copy the snapshot's typed source tables into schema `raw` of the build's DuckDB file."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for table, frame in snapshot.tables.items():
            con.register("source_frame", frame)
            con.execute(f"CREATE OR REPLACE TABLE raw.{table} AS SELECT * FROM source_frame")
            con.unregister("source_frame")


def count_rows(build_dir: Path) -> dict[str, int]:
    return {mart: pq.ParquetFile(mart_path(build_dir, mart)).metadata.num_rows for mart in MARTS}


def publish(settings: Settings, build_dir: Path) -> None:
    """Point `current` at build_dir in one atomic rename, then drop builds older than the last few."""
    link = settings.current_build
    temporary = link.with_name(f".current-{build_dir.name}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(build_dir.relative_to(settings.workdir))
    os.replace(temporary, link)
    prune_builds(settings)


def _worker_error(what: str, name: str, message: str) -> IvcrushError:
    """A worker's exception as the parent raises it: the user-facing ones as they were, the rest as faults."""
    known = {e.__name__: e for e in (BuildError, SourceDataError, QualityGateError)}
    if name in known:
        return known[name](message)
    if name == "ValueError":  # a setting the worker could not use
        return BuildError(message)
    if "No space left on device" in message or "Disk quota exceeded" in message:
        return BuildError(f"the {what} process ran out of disk space ({message})")
    return workers.WorkerError(f"the {what} process failed: {name}: {message}")


class QualityWorker:
    """Great Expectations in a second (spawned) process (`ivcrush.quality.worker`), so that its seconds of
    import and checks overlap dbt: the raw tables at once, each mart as soon as dbt has written it; it writes
    the report (JSON and Data Docs) into the build folder. Reports come back without their GE contexts."""

    def __init__(self, snapshot: SourceSnapshot, severity: dict[str, str] | None, build_dir: Path) -> None:
        self._process, self._conn = workers.start(quality_worker, (snapshot, severity, build_dir), "ivcrush-quality")

    def mart_written(self, mart: str) -> None:
        self._request("mart", mart)

    def raw_report(self) -> QualityReport:
        """The raw tables' report; the worker's errors raised here."""
        self._request("raw")
        return self.next_report()

    def check_marts(self) -> None:
        """Every mart is written: check the rest and write the report (then `next_report`)."""
        self._request("marts")

    def next_report(self) -> QualityReport:
        kind, payload = workers.receive(self._process, self._conn, "data-quality")
        if kind == "error":
            raise _worker_error("data-quality", *payload)
        return payload

    def _request(self, kind: str, payload: str | None = None) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it ended: `next_report` says why
            self._conn.send((kind, payload))

    def close(self) -> None:
        """Stop the process: after its last report it has nothing left to do but the interpreter's exit."""
        workers.stop(self._process, self._conn)


class DbtWorker:
    """dbt's production build in a spawned process (`ivcrush.build_runner`), started before the raw tables are
    loaded so that its seconds of imports overlap them; its failure returned by `run` (a failed raw check wins
    over it)."""

    def __init__(self) -> None:
        self._process, self._conn = workers.start(dbt_worker, (), "ivcrush-dbt")
        self._finished = False

    def run(self, build_dir: Path, settings: Settings, on_mart: Callable[[str], None]) -> IvcrushError | None:
        """Build; `on_mart(name)` as soon as each mart is written (its tests may still fail the build)."""
        self._conn.send((build_dir, settings, PRODUCTION_BUILD))
        kind, payload = workers.receive(self._process, self._conn, "dbt")
        while kind == "mart":
            on_mart(payload)
            kind, payload = workers.receive(self._process, self._conn, "dbt")
        self._finished = True
        if kind == "ok":
            return None
        name, message = payload
        return BuildError(message) if name == "BuildError" else _worker_error("dbt", name, message)

    def close(self) -> None:
        """Stop it: after `run` it exits by itself (waited for at the end of the build), before that it is killed."""
        workers.stop(self._process, self._conn, grace=workers.STOP_TIMEOUT_S if self._finished else 0.0)


class Meanwhile:
    """A task run in a daemon thread of its own (e.g. importing what the next stage needs) while the build's
    processes work, at the lowest priority: it fills the CPU they leave idle, not the end of the build. `wait`
    re-raises its exception; a build that fails does not wait for it."""

    def __init__(self, task: Callable[[], None]) -> None:
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(task,), name="ivcrush-build-meanwhile", daemon=True)
        self._thread.start()

    def _run(self, task: Callable[[], None]) -> None:
        try:
            workers.lowest_priority_thread()  # dbt and the quality process first: the build waits for them
            task()
        except BaseException as exc:  # re-raised in the build's thread by `wait`
            self._failure = exc

    def wait(self) -> None:
        self._thread.join()
        if self._failure is not None:
            raise self._failure


@contextlib.contextmanager
def _disk_full_is_clear(settings: Settings) -> Iterator[None]:
    """A full disk (or quota) while writing the build: a BuildError saying so, not a traceback."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        raise BuildError(
            f"no space left for the build in {settings.workdir} ({exc.strerror}); free some space or choose "
            "another --workdir"
        ) from exc
    except duckdb.Error as exc:
        if "No space left on device" not in str(exc) and "Disk quota exceeded" not in str(exc):
            raise
        raise BuildError(f"no space left for the build in {settings.workdir} ({exc})") from exc


def build_inputs(settings: Settings, snapshot: SourceSnapshot) -> str:
    """A fingerprint of everything a build is made from: the source tables' content and path, the settings
    the models and the quality gate read, and the dbt project and kernel files (models, tests, suites)."""
    digest = hashlib.sha256()
    given = [str(snapshot.path.resolve()), snapshot.fingerprint, str(settings.amc_labels_untrusted)]
    digest.update(json.dumps([given, sorted((settings.severity or {}).items())]).encode())
    files = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in PROJECT_FILES and p.is_file()]
    for path in sorted(p for p in files if not NOT_PROJECT_FOLDERS & set(p.relative_to(DBT_PROJECT_DIR).parts)):
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def unchanged_build(settings: Settings, inputs: str) -> BuildResult | None:
    """The published build where it was made from these inputs and passed the quality gate, else None."""
    current = current_build(settings)
    if current is None or current.inputs != inputs or current.quality_errors:
        return None
    return current


def build(
    settings: Settings,
    on_quality: Callable[[QualityReport], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
    *,
    reuse: bool = False,
) -> BuildResult:
    """Snapshot the source database, check it, build and test every dbt model, check the marts, publish.

    dbt runs in one spawned process and Great Expectations (raw tables, then each mart as soon as dbt has
    written it) in another, at the same priority (it has the more CPU seconds of the two), so that its seconds
    of imports and checks overlap dbt; `meanwhile` (e.g. importing what the next stage needs) runs in a thread
    of this process meanwhile, from the moment the build starts its processes, and is waited for before the
    build is published (its exception fails the build). Any error-severity data-quality failure (raw tables
    or marts) raises QualityGateError before anything is published, and a failed raw check wins over a dbt
    failure it may have caused; `on_quality` sees each report (raw, then marts).
    Both processes are stopped on every way out, SIGTERM included. One build at a time per workspace; the
    half-made folders of killed builds are swept first. Spawned processes import the caller's main module
    again: a script calling this needs the usual `if __name__ == "__main__":` guard. With `reuse`, a published
    build made from the same inputs (`build_inputs`) is returned as it is: nothing is built or checked again.
    """
    source = settings.source_db
    check_workdir(settings, source)
    with workers.terminate_unwinds(), exclusive(settings, "build"), _disk_full_is_clear(settings):
        sweep(settings.builds_dir, BUILD_MANIFEST)
        return _build(settings, source, on_quality, meanwhile, reuse)


def _build(
    settings: Settings,
    source: Path,
    on_quality: Callable[[QualityReport], None] | None,
    meanwhile: Callable[[], None] | None,
    reuse: bool,
) -> BuildResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    progress.step("reading the database")
    snapshot = read_source(source)
    timings["read_source"] = snapshot.read_seconds
    inputs = build_inputs(settings, snapshot)
    unchanged = unchanged_build(settings, inputs) if reuse else None
    if unchanged is not None:
        return unchanged

    now = datetime.now(UTC)
    build_id = f"{now:%Y%m%dT%H%M%S%fZ}-{snapshot.fingerprint[:8]}"
    build_dir = settings.builds_dir / build_id
    quality = QualityWorker(snapshot, settings.severity, build_dir)
    dbt = None
    try:
        dbt = DbtWorker()
        background = Meanwhile(meanwhile) if meanwhile else None
        (build_dir / "marts").mkdir(parents=True)
        progress.step("loading the raw tables into DuckDB")
        step = time.perf_counter()
        load_raw(snapshot, build_dir / "warehouse.duckdb")
        load_market(market_dir(settings), build_dir / "warehouse.duckdb")
        timings["load_raw"] = time.perf_counter() - step
        progress.step("dbt build: models and tests (raw tables and written marts checked meanwhile)")
        step = time.perf_counter()
        dbt_error = dbt.run(build_dir, settings, on_mart=quality.mart_written)
        timings["dbt_build"] = time.perf_counter() - step
        progress.step("checking the raw tables (Great Expectations)")
        step = time.perf_counter()
        raw_report = quality.raw_report()
        timings["validate_raw_wait"] = time.perf_counter() - step
        if on_quality:
            on_quality(raw_report)
        gate(raw_report, f"feature tables built from {source}")
        if dbt_error:
            raise dbt_error
        progress.step("checking the marts (Great Expectations)")
        step = time.perf_counter()
        quality.check_marts()
        mart_report = quality.next_report()
        timings["validate_marts_wait"] = time.perf_counter() - step
        if on_quality:
            on_quality(mart_report)
        gate(mart_report, "feature tables")
        if background:
            step = time.perf_counter()
            background.wait()
            timings["meanwhile_wait"] = time.perf_counter() - step
        report = raw_report + mart_report
        result = BuildResult(
            build_id=build_id,
            build_dir=str(build_dir),
            source_db=str(source),
            source_fingerprint=snapshot.fingerprint,
            amc_labels_untrusted=settings.amc_labels_untrusted,
            built_at=now.isoformat(),
            row_counts=count_rows(build_dir),
            seconds=timings,
            quality_errors=len(report.errors),
            quality_warnings=[f"{check.name} ({check.where}): {check.message}" for check in report.warnings],
            inputs=inputs,
        )
        timings["total"] = time.perf_counter() - started
        progress.step("publishing the build")
        (build_dir / BUILD_MANIFEST).write_text(json.dumps(asdict(result), indent=2))
        publish(settings, build_dir)
    except BaseException:
        _close(quality, dbt)  # before removing the folder they may be writing into
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    finally:
        _close(quality, dbt)
    return result


def _close(quality: QualityWorker, dbt: DbtWorker | None) -> None:
    quality.close()
    if dbt is not None:
        dbt.close()

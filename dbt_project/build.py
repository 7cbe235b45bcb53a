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
import importlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from ivcrush import progress, workers
from ivcrush.errors import IvcrushError
from ivcrush.market.store import load_market, market_dir
from ivcrush.quality.report import QualityGateError, QualityReport, gate
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

# Every model and data test; dbt's unit tests check the SQL logic on fixed inputs, so (as dbt advises) they
# run in the test suite (tests/test_build.py), not in every build of the user's data.
PRODUCTION_BUILD = ["build", "--exclude-resource-type", "unit_test"]
QUALITY_NICENESS = 10
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
PROJECT_FILES = {".sql", ".yml", ".csv", ".py"}  # what a build's models, tests, seeds and suites are made of
NOT_PROJECT_FOLDERS = {"target", "logs", "dbt_packages", "__pycache__"}  # what dbt's own CLI writes there


class BuildError(IvcrushError):
    """dbt failed or the inputs could not be turned into feature tables; nothing was published."""


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


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def run_dbt(build_dir: Path, settings: Settings, args: list[str]) -> None:
    """Run one dbt command in-process against the build folder; raise BuildError naming what failed.

    dbt runs inside the build folder and names its files relative to it: dbt-duckdb writes the marts' paths
    into SQL string literals, which a workspace path with a quote in it would break.
    """
    os.environ["IVCRUSH_BUILD_DIR"] = "."
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from dbt.cli.main import dbtRunner  # dbt is slow to import; only builds need it

    dbt_vars = {"amc_labels_untrusted": settings.amc_labels_untrusted}
    workdir = settings.workdir.resolve()
    with _inside(build_dir):
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(workdir / "dbt" / "target"),
                "--log-path",
                str(workdir / "dbt" / "logs"),
                "--vars",
                json.dumps(dbt_vars),
                "--log-level",
                # its failures come back in the BuildError; its log file has everything; its output under -v
                "info" if settings.tool_output else "none",
            ]
        )
    if result.success:
        return
    failures = []
    for node_result in getattr(result.result, "results", None) or []:
        if str(node_result.status).lower() in {"error", "fail"}:
            failures.append(f"{node_result.node.name}: {node_result.status} ({node_result.message})")
    detail = "; ".join(failures[:10]) or str(result.exception or "unknown dbt error")
    raise BuildError(f"dbt {' '.join(args)} failed: {detail}")


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
    """Great Expectations in a second (spawned) process, so that its seconds of import and checks overlap dbt.

    It checks the snapshot's raw tables as soon as it starts, the marts when told where they are, then writes
    the report (JSON and Data Docs) into the build folder. Reports come back without their GE contexts.
    """

    def __init__(self, snapshot: SourceSnapshot, severity: dict[str, str] | None) -> None:
        self._process, self._conn = workers.start(_quality_worker, (snapshot, severity), "ivcrush-quality")

    def next_report(self) -> QualityReport:
        """The raw tables' report, then (after `check_marts`) the marts'; the worker's errors raised here."""
        kind, payload = workers.receive(self._process, self._conn, "data-quality")
        if kind == "error":
            raise _worker_error("data-quality", *payload)
        return payload

    def check_marts(self, build_dir: Path) -> None:
        self._conn.send(str(build_dir))

    def close(self) -> None:
        """Stop the process: after its last report it has nothing left to do but the interpreter's exit."""
        workers.stop(self._process, self._conn)


def _quality_worker(
    conn: Connection, parent_pid: int, snapshot: SourceSnapshot, severity: dict[str, str] | None
) -> None:
    """The quality process: raw report, then (on request) the marts report; the report files in the build."""
    workers.die_with_parent(parent_pid)
    # The suites run only in this process: their imports (SQLAlchemy, later GE) stay out of the building one.
    from ivcrush.quality.docs import write_report
    from ivcrush.quality.marts import check_marts
    from ivcrush.quality.raw import check_raw

    os.nice(QUALITY_NICENESS)  # the raw checks are not needed before dbt is done: leave dbt the CPU
    # GE logs (and swallows) the tracebacks of Data Docs it cannot write; the failure to write the report
    # comes back to the build as an error of its own
    gx_logger = logging.getLogger("great_expectations")
    gx_logger.addHandler(logging.NullHandler())
    gx_logger.propagate = False
    try:
        raw = check_raw(snapshot.path, severity=severity, snapshot=snapshot)
        conn.send(("report", QualityReport(raw.checks)))
        build_dir = Path(conn.recv())
        marts = check_marts(build_dir, severity=severity)
        write_report(raw + marts, build_dir / "quality")
        conn.send(("report", QualityReport(marts.checks)))
    except EOFError:  # the build stopped before its marts were ready
        pass
    except BaseException as exc:
        conn.send(("error", (type(exc).__name__, str(exc))))
    finally:
        conn.close()


def _dbt_worker(conn: Connection, parent_pid: int) -> None:
    """The dbt process: imports dbt at once (seconds, while the build loads the raw tables), then runs the one
    dbt command it is sent against the build folder, and sends its outcome."""
    workers.die_with_parent(parent_pid)
    logging.raiseExceptions = False  # a log file that cannot be written (disk full) prints no tracebacks
    try:
        os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        importlib.import_module("dbt.cli.main")  # run_dbt imports it again at no cost
        build_dir, settings, args = conn.recv()
        run_dbt(build_dir, settings, args)
        conn.send(("ok", None))
    except EOFError:  # the build stopped before it needed dbt
        pass
    except BaseException as exc:
        conn.send(("error", (type(exc).__name__, str(exc))))
    finally:
        conn.close()


class DbtWorker:
    """dbt's production build in a spawned process, started before the raw tables are loaded so that its
    seconds of imports overlap them; its failure returned by `run` (a failed raw check wins over it)."""

    def __init__(self) -> None:
        self._process, self._conn = workers.start(_dbt_worker, (), "ivcrush-dbt")
        self._finished = False

    def run(self, build_dir: Path, settings: Settings) -> IvcrushError | None:
        self._conn.send((build_dir, settings, PRODUCTION_BUILD))
        kind, payload = workers.receive(self._process, self._conn, "dbt")
        self._finished = True
        if kind == "ok":
            return None
        name, message = payload
        return BuildError(message) if name == "BuildError" else _worker_error("dbt", name, message)

    def close(self) -> None:
        """Stop it: after `run` it exits by itself (waited for at the end of the build), before that it is killed."""
        workers.stop(self._process, self._conn, grace=workers.STOP_TIMEOUT_S if self._finished else 0.0)


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

    dbt runs in one spawned process and Great Expectations (raw tables, then marts) in another, at a lower
    priority, so that its seconds of imports and checks overlap dbt; `meanwhile` (e.g. importing what the
    next stage needs) runs here while the marts are checked. Any error-severity data-quality
    failure (raw tables or marts) raises QualityGateError before anything is published, and a failed raw
    check wins over a dbt failure it may have caused; `on_quality` sees each report (raw, then marts).
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
    quality = QualityWorker(snapshot, settings.severity)
    dbt = None
    try:
        dbt = DbtWorker()
        (build_dir / "marts").mkdir(parents=True)
        progress.step("loading the raw tables into DuckDB")
        step = time.perf_counter()
        load_raw(snapshot, build_dir / "warehouse.duckdb")
        load_market(market_dir(settings), build_dir / "warehouse.duckdb")
        timings["load_raw"] = time.perf_counter() - step
        progress.step("dbt build: models and tests (raw tables checked meanwhile)")
        step = time.perf_counter()
        dbt_error = dbt.run(build_dir, settings)
        timings["dbt_build"] = time.perf_counter() - step
        progress.step("checking the raw tables (Great Expectations)")
        step = time.perf_counter()
        raw_report = quality.next_report()
        timings["validate_raw_wait"] = time.perf_counter() - step
        if on_quality:
            on_quality(raw_report)
        gate(raw_report, f"feature tables built from {source}")
        if dbt_error:
            raise dbt_error
        progress.step("checking the marts (Great Expectations)")
        step = time.perf_counter()
        quality.check_marts(build_dir)
        if meanwhile:
            meanwhile()
        mart_report = quality.next_report()
        timings["validate_marts_wait"] = time.perf_counter() - step
        if on_quality:
            on_quality(mart_report)
        gate(mart_report, "feature tables")
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

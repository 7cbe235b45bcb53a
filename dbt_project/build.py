"""`ivcrush build`: snapshot the user's database, run dbt into a fresh build folder, publish atomically.

A build is written into `<workdir>/builds/<id>/` (the DuckDB warehouse and the Parquet marts) and only
when dbt's models and tests all pass does the `<workdir>/current` symlink move to it, in one rename. A
failed build leaves the previous good one published and untouched.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import duckdb

from ivcrush.errors import IvcrushError
from ivcrush.quality.report import QualityGateError, QualityReport, gate
from ivcrush.settings import DBT_PROJECT_DIR, Settings
from ivcrush.source.reader import SourceDataError, SourceSnapshot, read_source
from ivcrush.workspace import BUILD_MANIFEST, MARTS, BuildResult, mart_path

# Every model and data test; dbt's unit tests check the SQL logic on fixed inputs, so (as dbt advises) they
# run in the test suite (tests/test_build.py), not in every build of the user's data.
PRODUCTION_BUILD = ["build", "--exclude-resource-type", "unit_test"]
QUALITY_NICENESS = 10
BUILDS_KEPT = 3


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


def run_dbt(build_dir: Path, settings: Settings, args: list[str]) -> None:
    """Run one dbt command in-process against the build folder; raise BuildError naming what failed."""
    os.environ["IVCRUSH_BUILD_DIR"] = str(build_dir)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from dbt.cli.main import dbtRunner  # dbt is slow to import; only builds need it

    dbt_vars = {"amc_labels_untrusted": settings.amc_labels_untrusted}
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(settings.workdir / "dbt" / "target"),
            "--log-path",
            str(settings.workdir / "dbt" / "logs"),
            "--vars",
            json.dumps(dbt_vars),
            "--quiet",
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
    with duckdb.connect() as con:
        return {
            mart: con.execute(f"SELECT count(*) FROM read_parquet('{mart_path(build_dir, mart)}')").fetchall()[0][0]
            for mart in MARTS
        }


def publish(settings: Settings, build_dir: Path) -> None:
    """Point `current` at build_dir in one atomic rename, then drop builds older than the last few."""
    link = settings.current_build
    temporary = link.with_name(f".current-{build_dir.name}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(build_dir.relative_to(settings.workdir))
    os.replace(temporary, link)
    builds = sorted(p for p in settings.builds_dir.iterdir() if p.is_dir())
    for old in builds[:-BUILDS_KEPT]:
        if old.resolve() != link.resolve():
            shutil.rmtree(old, ignore_errors=True)


class QualityWorker:
    """Great Expectations in a second (spawned) process, so that its seconds of import and checks overlap dbt.

    It checks the raw tables as soon as it starts, the marts when told where they are, then writes the report
    (JSON and Data Docs) into the build folder. Reports come back without their GE contexts.
    """

    def __init__(self, snapshot: SourceSnapshot, severity: dict[str, str] | None) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_quality_worker, args=(child_conn, snapshot, severity), name="ivcrush-quality", daemon=True
        )
        self._process.start()
        child_conn.close()

    def next_report(self) -> QualityReport:
        """The raw tables' report, then (after `check_marts`) the marts'; the worker's errors raised here."""
        try:
            kind, payload = self._conn.recv()
        except EOFError as exc:
            self._process.join(timeout=5)
            raise BuildError(
                f"the data-quality process ended without a result (exit code {self._process.exitcode})"
            ) from exc
        if kind == "error":
            name, message = payload
            known = {e.__name__: e for e in (BuildError, SourceDataError, QualityGateError, ValueError)}
            raise known.get(name, RuntimeError)(message if name in known else f"{name}: {message}")
        return payload

    def check_marts(self, build_dir: Path) -> None:
        self._conn.send(str(build_dir))

    def close(self) -> None:
        """Stop the process: after its last report it has nothing left to do but the interpreter's exit."""
        self._conn.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _quality_worker(conn: Connection, snapshot: SourceSnapshot, severity: dict[str, str] | None) -> None:
    """The quality process: raw report, then (on request) the marts report; the report files in the build."""
    # The suites run only in this process: their imports (SQLAlchemy, later GE) stay out of the building one.
    from ivcrush.quality.docs import write_report
    from ivcrush.quality.marts import check_marts
    from ivcrush.quality.raw import check_raw

    os.nice(QUALITY_NICENESS)  # the raw checks are not needed before dbt is done: leave dbt the CPU
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


def build(
    settings: Settings,
    on_quality: Callable[[QualityReport], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> BuildResult:
    """Snapshot the source database, check it, build and test every dbt model, check the marts, publish.

    dbt runs in one spawned process and Great Expectations (raw tables, then marts) in another, at a lower
    priority, so that its seconds of imports and checks overlap dbt; `meanwhile` (e.g. importing what the
    next stage needs) runs here while the marts are checked. Any error-severity data-quality
    failure (raw tables or marts) raises QualityGateError before anything is published, and a failed raw
    check wins over a dbt failure it may have caused; `on_quality` sees each report (raw, then marts).
    Spawned processes import the caller's main module again: a script calling this needs the usual
    `if __name__ == "__main__":` guard.
    """
    source = settings.source_db
    check_workdir(settings, source)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    snapshot = read_source(source)
    timings["read_source"] = snapshot.read_seconds

    now = datetime.now(UTC)
    build_id = f"{now:%Y%m%dT%H%M%S%fZ}-{snapshot.fingerprint[:8]}"
    build_dir = settings.builds_dir / build_id
    quality = QualityWorker(snapshot, settings.severity)
    try:
        (build_dir / "marts").mkdir(parents=True)
        step = time.perf_counter()
        load_raw(snapshot, build_dir / "warehouse.duckdb")
        timings["load_raw"] = time.perf_counter() - step
        step = time.perf_counter()
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            dbt_error = pool.submit(run_dbt, build_dir, settings, PRODUCTION_BUILD).exception()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # its process exits on its own, in the background
        timings["dbt_build"] = time.perf_counter() - step
        if dbt_error is not None and not isinstance(dbt_error, BuildError):
            dbt_error = BuildError(f"the dbt process failed: {type(dbt_error).__name__}: {dbt_error}")
        step = time.perf_counter()
        raw_report = quality.next_report()
        timings["validate_raw_wait"] = time.perf_counter() - step
        if on_quality:
            on_quality(raw_report)
        gate(raw_report, f"feature tables built from {source}")
        if dbt_error:
            raise dbt_error
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
        )
        timings["total"] = time.perf_counter() - started
        (build_dir / BUILD_MANIFEST).write_text(json.dumps(asdict(result), indent=2))
        publish(settings, build_dir)
    except BaseException:
        quality.close()  # before removing the folder it may be writing its report into
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    finally:
        quality.close()
    return result

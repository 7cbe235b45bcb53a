"""`ivcrush build`: snapshot the user's database, run dbt into a fresh build folder, publish atomically.

A build is written into `<workdir>/builds/<id>/` (the DuckDB warehouse and the Parquet marts) and only
when dbt's models and tests all pass does the `<workdir>/current` symlink move to it, in one rename. A
failed build leaves the previous good one published and untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from cli.settings import DBT_PROJECT_DIR, Settings
from cli.source_db import SourceSnapshot, read_source

if TYPE_CHECKING:
    from cli.quality import QualityReport

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
BUILDS_KEPT = 3


class BuildError(Exception):
    """dbt failed or the inputs could not be turned into feature tables; nothing was published."""


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


def mart_path(build_dir: Path, mart: str) -> Path:
    return build_dir / "marts" / f"{mart}.parquet"


def count_rows(build_dir: Path) -> dict[str, int]:
    with duckdb.connect() as con:
        return {
            mart: con.execute(f"SELECT count(*) FROM read_parquet('{mart_path(build_dir, mart)}')").fetchone()[0]
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


def current_build(settings: Settings) -> BuildResult | None:
    """The published build, or None where nothing has been built yet."""
    manifest = settings.current_build / BUILD_MANIFEST
    if not manifest.is_file():
        return None
    return BuildResult(**json.loads(manifest.read_text()))


def build(settings: Settings, on_quality: Callable[[QualityReport], None] | None = None) -> BuildResult:
    """Snapshot the source database, check it, build and test every dbt model, check the marts, publish.

    Any error-severity data-quality failure (raw tables or marts) raises QualityGateError before anything
    is published; `on_quality` sees each report (raw, then marts) as it is made.
    """
    from cli.quality import check_marts, check_raw, gate, write_report  # Great Expectations: only here

    source = settings.source_db
    check_workdir(settings, source)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    snapshot = read_source(source)
    timings["read_source"] = snapshot.read_seconds
    step = time.perf_counter()
    raw_report = check_raw(source, severity=settings.severity, snapshot=snapshot)
    timings["validate_raw"] = time.perf_counter() - step
    if on_quality:
        on_quality(raw_report)
    gate(raw_report, f"feature tables built from {source}")

    now = datetime.now(UTC)
    build_id = f"{now:%Y%m%dT%H%M%S%fZ}-{snapshot.fingerprint[:8]}"
    build_dir = settings.builds_dir / build_id
    (build_dir / "marts").mkdir(parents=True)
    try:
        step = time.perf_counter()
        load_raw(snapshot, build_dir / "warehouse.duckdb")
        timings["load_raw"] = time.perf_counter() - step
        step = time.perf_counter()
        run_dbt(build_dir, settings, ["build"])
        timings["dbt_build"] = time.perf_counter() - step
        step = time.perf_counter()
        mart_report = check_marts(build_dir, severity=settings.severity)
        timings["validate_marts"] = time.perf_counter() - step
        if on_quality:
            on_quality(mart_report)
        gate(mart_report, "feature tables")
        report = raw_report + mart_report
        write_report(report, build_dir / "quality")
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
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return result

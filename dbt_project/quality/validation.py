"""Validation of the user's database as `ivcrush validate` runs it: raw suite, marts suite where they match, report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivcrush import progress
from ivcrush.quality.docs import SUMMARY_FILE, write_report
from ivcrush.quality.marts import check_marts
from ivcrush.quality.raw import check_raw
from ivcrush.quality.report import QualityReport
from ivcrush.settings import Settings
from ivcrush.workspace import current_build


@dataclass(frozen=True)
class Validation:
    """A validation's report and where it was written."""

    report: QualityReport
    out_dir: Path
    result_path: Path
    summary_path: Path


def validate(settings: Settings) -> Validation:
    """Check the source database and, where the published build came from it, the build's marts; write the
    report (JSON, Data Docs, summary) into `<workdir>/validation/<timestamp>`.

    Structural faults of the database raise SourceDataError before any expectation runs.
    """
    progress.step("checking the database's tables (Great Expectations)")
    report = check_raw(settings.source_db, severity=settings.severity)
    build = current_build(settings)
    if build is not None and Path(build.source_db) == settings.source_db:
        progress.step("checking the published build's marts")
        report = report + check_marts(Path(build.build_dir), severity=settings.severity)
    progress.step("writing the report and Data Docs")
    out_dir = settings.workdir / "validation" / datetime.now().strftime("%Y%m%dT%H%M%S")
    result_path = write_report(report, out_dir)
    return Validation(report, out_dir, result_path, out_dir / SUMMARY_FILE)

"""A quality report on disk: result.json, Great Expectations Data Docs per suite and a one-page summary.html."""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from ivcrush.quality.report import ERROR, CheckResult, QualityReport
from ivcrush.reports import render, write_page

RESULT_FILE = "result.json"
SUMMARY_FILE = "summary.html"
# suite -> (label, what it reads); the labels say which data a check looked at
SUITES: dict[str, tuple[str, str]] = {
    "raw_tables": (
        "2.0 database as read: raw tables",
        "Great Expectations over the tables of the trader's 2.0 database (ivcrush.db), as read in one transaction: "
        "the very snapshot the build turned into feature tables.",
    ),
    "raw_distribution": (
        "2.0 database as read: distributions",
        "Checks (pandas) over the same snapshot's moves: after-close move ratios, units, coverage gaps.",
    ),
    "marts": (
        "feature tables: dbt marts and labels",
        "Great Expectations over the build's Parquet marts and labels: what Feast serves and training reads.",
    ),
}
# Data Docs site -> its suite
DATA_DOCS_SUITE = {"raw": "raw_tables", "marts": "marts"}


def write_data_docs(label: str, context: Any, out_dir: Path) -> str:
    """Write one GE context's Data Docs into out_dir/data_docs/<label>/; return its index page."""
    base = Path(out_dir) / "data_docs" / label
    context.variables.data_docs_sites = {
        "ivcrush": {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context.build_data_docs(site_names=["ivcrush"])
    return str(base / "index.html")


def write_report(report: QualityReport, out_dir: Path, written_docs: dict[str, str] | None = None) -> Path:
    """Write result.json, GE Data Docs (out_dir/data_docs/<suite>/index.html) and summary.html; return the JSON.

    `written_docs` names the Data Docs already written there (`write_data_docs`; label -> index page), of
    suites whose checks the report holds without their GE context."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = dict(written_docs or {})
    for label, context in report.gx_contexts:
        docs[label] = write_data_docs(label, context, out_dir)
    payload = {**report.to_dict(), "data_docs": docs, "summary_html": str(out_dir / SUMMARY_FILE)}
    write_page(out_dir / SUMMARY_FILE, summary_page(report, out_dir, docs))
    path = out_dir / RESULT_FILE
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def quality_pages(out_dir: Path) -> list[tuple[str, Path]]:
    """The pages of the quality report in `out_dir` (a build's quality/ or a validation's folder), labelled:
    the summary, then each suite's Data Docs; none where no report was written there."""
    result = Path(out_dir) / RESULT_FILE
    if not result.is_file():
        return []
    docs = json.loads(result.read_text()).get("data_docs", {})
    pages = [("Quality summary", Path(out_dir) / SUMMARY_FILE)]
    return pages + [(data_docs_label(site), Path(path)) for site, path in docs.items()]


def suite_label(suite: str) -> str:
    return SUITES.get(suite, (suite, ""))[0]


def data_docs_label(site: str) -> str:
    """E.g. "Great Expectations Data Docs: 2.0 database as read: raw tables"."""
    return f"Great Expectations Data Docs: {suite_label(DATA_DOCS_SUITE.get(site, site))}"


def _status(check: CheckResult) -> tuple[str, str]:
    if check.success:
        return "passed", ""
    return ("ERROR", "bad") if check.severity == ERROR else ("warning", "warn")


def _examples(check: CheckResult) -> Markup:
    return Markup("<br>").join(escape(e) for e in check.examples)


def _table(header: list[str], rows: list[list[object]], classes: list[str], text: tuple[int, ...]) -> dict:
    return {"header": header, "rows": rows, "classes": classes, "text_columns": text}


def _suite_checks(checks: list[CheckResult]) -> dict:
    """One row per check of a suite: where it looked (tables with their column counts), failures, rows."""
    by_name: dict[str, list[CheckResult]] = defaultdict(list)
    for check in checks:
        by_name[check.name].append(check)
    rows, classes = [], []
    for name, results in by_name.items():
        places: dict[str, int] = defaultdict(int)
        for result in results:
            places[result.table] += 1
        failed = [r for r in results if not r.success]
        worst = min((_status(r) for r in failed), key=lambda s: s[1] != "bad", default=("passed", ""))
        where = ", ".join(f"{table} ({n})" if n > 1 else table for table, n in places.items())
        rows.append(
            [name, results[0].severity, where, len(results), len(failed), sum(r.unexpected_count for r in failed)]
        )
        classes.append(worst[1])
    header = ["check", "severity", "where (columns checked)", "places", "failed", "failing rows"]
    return _table(header, rows, classes, (1, 2))


def summary_page(report: QualityReport, out_dir: Path, docs: dict[str, str]) -> str:
    """One page: the verdict, the suites (labelled by what they read, with their Data Docs), the failed checks
    (errors, then warnings), then every check by suite."""
    suites = list(dict.fromkeys(c.suite for c in report.checks))
    docs_of = {DATA_DOCS_SUITE.get(site, site): os.path.relpath(path, out_dir) for site, path in docs.items()}
    suite_rows, suite_classes = [], []
    for suite in suites:
        checks = [c for c in report.checks if c.suite == suite]
        errors = sum(not c.success and c.severity == ERROR for c in checks)
        warnings = sum(not c.success and c.severity != ERROR for c in checks)
        link = Markup('<a href="{}">Data Docs</a>').format(docs_of[suite]) if suite in docs_of else "-"
        suite_rows.append([suite_label(suite), SUITES.get(suite, ("", ""))[1], len(checks), errors, warnings, link])
        suite_classes.append("bad" if errors else "warn" if warnings else "good")
    failed = sorted((c for c in report.checks if not c.success), key=lambda c: (c.severity != ERROR, c.suite, c.name))
    failed_rows = [
        [_status(c)[0], suite_label(c.suite), c.name, c.where, c.unexpected_count, c.message, _examples(c)]
        for c in failed
    ]
    errors, warnings = len(report.errors), len(report.warnings)
    reads_marts = "marts" in suites
    return render(
        "quality.html.j2",
        title="Data quality: the 2.0 database as read" + (" and its feature tables" if reads_marts else ""),
        subtitle=f"{errors} error(s), {warnings} warning(s), {len(report.checks)} check(s) · {out_dir}",
        verdict=(
            f"Passed: no error check failed ({warnings} warning(s))."
            if report.passed
            else f"FAILED: {errors} error check(s) failed; these data must not be published or used."
        ),
        verdict_kind="good" if report.passed and not warnings else "warn" if report.passed else "bad",
        suites=_table(
            ["suite", "what it reads", "checks", "errors", "warnings", "Data Docs"],
            suite_rows,
            suite_classes,
            (1,),
        ),
        links=[(data_docs_label(site), os.path.relpath(path, out_dir)) for site, path in docs.items()]
        + [("every result as JSON", RESULT_FILE)],
        failed=_table(
            ["status", "suite", "check", "where", "rows", "message", "examples"],
            failed_rows,
            ["bad" if c.severity == ERROR else "warn" for c in failed],
            (1, 2, 3, 5, 6),
        ),
        by_suite=[
            {
                "anchor": suite,
                "label": f"Every check: {suite_label(suite)}",
                "reads": SUITES.get(suite, ("", ""))[1],
                "table": _suite_checks([c for c in report.checks if c.suite == suite]),
            }
            for suite in suites
        ],
    )

"""The quality summary page: each suite labelled by what it reads, failed checks first, the Data Docs linked."""

from __future__ import annotations

import json
from pathlib import Path

from ivcrush.quality.docs import SUMMARY_FILE, quality_pages, summary_page, write_report
from ivcrush.quality.report import ERROR, WARNING, CheckResult, QualityReport


def check(name: str, suite: str, success: bool = True, severity: str = ERROR, examples: list[str] | None = None):
    return CheckResult(
        name,
        suite,
        "historical_moves",
        "close_move_pct",
        severity,
        success,
        0 if success else 3,
        examples or [],
        "ok" if success else f"{name} failed",
    )


def test_suites_are_labelled_by_what_they_read_and_link_their_data_docs(tmp_path: Path) -> None:
    report = QualityReport(
        [
            check("prices_positive", "raw_tables"),
            check("amc_move_ratio", "raw_distribution", False, WARNING, ["ticker=<AMAT>"]),
            check("abs_move_range", "marts"),
        ]
    )
    docs = {
        "raw": str(tmp_path / "data_docs" / "raw" / "index.html"),
        "marts": str(tmp_path / "data_docs" / "marts" / "index.html"),
    }
    page = summary_page(report, tmp_path, docs)
    assert "2.0 database as read: raw tables" in page and "feature tables: dbt marts and labels" in page
    assert "Great Expectations Data Docs: 2.0 database as read: raw tables" in page
    assert 'href="data_docs/raw/index.html"' in page and 'href="data_docs/marts/index.html"' in page
    assert "ticker=&lt;AMAT&gt;" in page, "examples are escaped"
    assert "Passed: no error check failed (1 warning(s))" in page
    assert "<script" not in page and "<link" not in page


def test_failed_errors_come_before_warnings_and_the_verdict_says_failed(tmp_path: Path) -> None:
    report = QualityReport(
        [
            check("amc_move_ratio", "raw_distribution", False, WARNING),
            check("prices_positive", "raw_tables", False, ERROR),
            check("abs_move_range", "marts"),
        ]
    )
    page = summary_page(report, tmp_path, {})
    failed = page[page.index('id="failed"') :]
    assert failed.index("prices_positive failed") < failed.index("amc_move_ratio failed")
    assert "FAILED: 1 error check(s) failed" in page


def test_a_validation_without_marts_says_so_in_its_title(tmp_path: Path) -> None:
    path = write_report(QualityReport([check("prices_positive", "raw_tables")]), tmp_path)
    page = (tmp_path / SUMMARY_FILE).read_text()
    assert "<title>ivcrush · Data quality: the 2.0 database as read</title>" in page
    assert json.loads(path.read_text())["summary_html"] == str(tmp_path / SUMMARY_FILE)


def test_quality_pages_lists_the_summary_then_each_data_docs(tmp_path: Path) -> None:
    assert quality_pages(tmp_path) == []
    write_report(QualityReport([check("prices_positive", "raw_tables")]), tmp_path)
    assert quality_pages(tmp_path) == [("Quality summary", tmp_path / SUMMARY_FILE)]

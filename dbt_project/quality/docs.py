"""A quality report on disk: result.json, Great Expectations Data Docs per suite and a one-page summary.html."""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path

from ivcrush.quality.report import ERROR, QualityReport

RESULT_FILE = "result.json"
SUMMARY_FILE = "summary.html"


def write_report(report: QualityReport, out_dir: Path) -> Path:
    """Write result.json, GE Data Docs (out_dir/data_docs/<suite>/index.html) and summary.html; return the JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    docs: dict[str, str] = {}
    for label, context in report.gx_contexts:
        base = out_dir / "data_docs" / label
        context.variables.data_docs_sites = {
            "ivcrush": {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        context.build_data_docs(site_names=["ivcrush"])
        docs[label] = str(base / "index.html")
    payload = {**report.to_dict(), "data_docs": docs, "summary_html": str(out_dir / SUMMARY_FILE)}
    (out_dir / SUMMARY_FILE).write_text(_summary_html(report, out_dir, docs))
    path = out_dir / RESULT_FILE
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def _summary_html(report: QualityReport, out_dir: Path, docs: dict[str, str]) -> str:
    """One page: failed checks first (errors, then warnings), links to the Data Docs of each suite."""
    rows = []
    for c in sorted(report.checks, key=lambda c: (c.success, c.severity != ERROR, c.suite, c.name)):
        status = "passed" if c.success else ("FAILED" if c.severity == ERROR else "warning")
        rows.append(
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                status.lower(),
                status,
                html.escape(c.suite),
                html.escape(c.name),
                html.escape(c.where),
                c.unexpected_count,
                html.escape(c.message),
                "<br>".join(html.escape(e) for e in c.examples),
            )
        )
    links = "".join(
        f"<li><a href='{html.escape(os.path.relpath(path, out_dir))}'>Great Expectations Data Docs: "
        f"{html.escape(label)}</a></li>"
        for label, path in docs.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ivcrush data quality</title><style>"
        "body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}"
        "table{border-collapse:collapse}.failed{background:#fdd}.warning{background:#ffd}</style></head><body>"
        f"<h1>ivcrush data quality</h1><p>{len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{len(report.checks)} check(s)</p><ul>{links}</ul><table><tr><th>status</th><th>suite</th><th>check</th>"
        "<th>where</th><th>rows</th><th>message</th><th>examples</th></tr>" + "".join(rows) + "</table></body></html>"
    )

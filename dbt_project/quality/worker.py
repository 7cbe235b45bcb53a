"""The build's data-quality process: Great Expectations over the snapshot's raw tables, then over each mart as
dbt writes it, and the report in the build folder.

It checks the raw tables and writes their Data Docs at once (while dbt builds), then answers the build's
messages in order: ("mart", name) a mart is written (checked as soon as the marts it is compared with are
read), ("raw", None) send the raw tables' report, ("marts", None) check what is left, write the report
(JSON, Data Docs, summary) and send the marts' report. Reports go back without their GE contexts; a failure
goes back as ("error", (exception name, message)).
"""

from __future__ import annotations

import logging
import os
from multiprocessing.connection import Connection
from pathlib import Path

from ivcrush import workers
from ivcrush.source.reader import SourceSnapshot

QUALITY_NICENESS = 10
REPORT_FOLDER = "quality"


def quality_worker(
    conn: Connection,
    parent_pid: int,
    snapshot: SourceSnapshot,
    severity: dict[str, str] | None,
    build_dir: Path,
) -> None:
    """The quality process (see the module): raw tables at once, marts as they come, the report at the end."""
    workers.die_with_parent(parent_pid)
    # The suites run only in this process: their imports (SQLAlchemy, later GE) stay out of the building one.
    from ivcrush.quality.docs import write_data_docs, write_report
    from ivcrush.quality.marts import MartSuite
    from ivcrush.quality.raw import check_raw
    from ivcrush.quality.report import QualityReport

    os.nice(QUALITY_NICENESS)  # nothing here is needed before dbt is done: leave dbt the CPU
    # GE logs (and swallows) the tracebacks of Data Docs it cannot write; the failure to write the report
    # comes back to the build as an error of its own
    gx_logger = logging.getLogger("great_expectations")
    gx_logger.addHandler(logging.NullHandler())
    gx_logger.propagate = False
    out_dir = build_dir / REPORT_FOLDER
    try:
        raw = check_raw(snapshot.path, severity=severity, snapshot=snapshot)
        raw_docs = {label: write_data_docs(label, context, out_dir) for label, context in raw.gx_contexts}
        raw = QualityReport(raw.checks)
        marts = MartSuite(build_dir, severity)
        while True:
            kind, mart = conn.recv()
            if kind == "mart":
                marts.read(mart)
                marts.check_ready()
            elif kind == "raw":
                conn.send(("report", raw))
            else:
                report = marts.finish()
                write_report(raw + report, out_dir, raw_docs)
                conn.send(("report", QualityReport(report.checks)))
                return
    except EOFError:  # the build stopped before its marts were ready
        pass
    except BaseException as exc:
        conn.send(("error", (type(exc).__name__, str(exc))))
    finally:
        conn.close()

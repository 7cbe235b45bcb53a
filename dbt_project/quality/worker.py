"""The build's data-quality process: Great Expectations over the snapshot's raw tables, then over each mart as
dbt writes it, and the report in the build folder.

It checks the raw tables and writes their Data Docs at once (while dbt builds), then answers the build's
messages in order: ("mart", name) a mart is written (checked as soon as the marts it is compared with are
read), ("raw", None) send the raw tables' report, ("marts", None) check what is left, write the report
(JSON, Data Docs, summary) and send the marts' report. Reports go back without their GE contexts; a failure
goes back as ("error", (exception name, message)): one of the raw checks at once, a later one in place of
the marts' report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from ivcrush import workers
from ivcrush.quality.report import QualityReport
from ivcrush.source.reader import SourceSnapshot

REPORT_FOLDER = "quality"


class MartChecks:
    """The marts' side of the process: each mart checked as it is written. A failure after the raw checks (of
    their Data Docs or of a mart's checks) is raised only when the marts' report is asked for, after the raw
    tables' report and dbt's outcome: the build fails as it did when the marts were checked at the end."""

    def __init__(self, raw: QualityReport, build_dir: Path, severity: dict[str, str] | None) -> None:
        self._raw = QualityReport(raw.checks)
        self._out_dir = build_dir / REPORT_FOLDER
        self._docs: dict[str, str] = {}
        self._failure: Exception | None = None
        self._attempt(lambda: self._start(raw, build_dir, severity))

    def _start(self, raw: QualityReport, build_dir: Path, severity: dict[str, str] | None) -> None:
        from ivcrush.quality.docs import write_data_docs
        from ivcrush.quality.marts import MartSuite

        self._docs = {label: write_data_docs(label, context, self._out_dir) for label, context in raw.gx_contexts}
        self._suite = MartSuite(build_dir, severity)

    def written(self, mart: str) -> None:
        self._attempt(lambda: self._suite.read(mart))
        self._attempt(self._suite.check_ready)

    def report(self) -> QualityReport:
        """Check the marts not checked yet, write the whole report; the marts' report without its GE context."""
        from ivcrush.quality.docs import write_report

        if self._failure is not None:
            raise self._failure
        report = self._suite.finish()
        write_report(self._raw + report, self._out_dir, self._docs)
        return QualityReport(report.checks)

    def _attempt(self, step: Callable[[], object]) -> None:
        if self._failure is None:
            try:
                step()
            except Exception as exc:
                self._failure = exc


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
    from ivcrush.quality.gx import defer_unused_imports
    from ivcrush.quality.raw import check_raw

    # At the build's own priority: this process has more CPU seconds to spend than dbt's (GE's import, the raw
    # tables, each mart, the report) and the build waits for its last report: it is the critical path.
    defer_unused_imports()
    # GE logs (and swallows) the tracebacks of Data Docs it cannot write; the failure to write the report
    # comes back to the build as an error of its own
    gx_logger = logging.getLogger("great_expectations")
    gx_logger.addHandler(logging.NullHandler())
    gx_logger.propagate = False
    try:
        raw = check_raw(snapshot.path, severity=severity, snapshot=snapshot)
        marts = MartChecks(raw, build_dir, severity)
        raw = QualityReport(raw.checks)
        while True:
            kind, mart = conn.recv()
            if kind == "mart":
                marts.written(mart)
            elif kind == "raw":
                conn.send(("report", raw))
            else:
                conn.send(("report", marts.report()))
                return
    except EOFError:  # the build stopped before its marts were ready
        pass
    except BaseException as exc:
        conn.send(("error", (type(exc).__name__, str(exc))))
    finally:
        conn.close()

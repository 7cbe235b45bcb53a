"""dbt for a build: run in-process (`run_dbt`), or as the build's dbt process (`dbt_worker`).

This module imports little (no pandas, pyarrow or DuckDB): the dbt process imports it first, and the seconds
before dbt runs are the start of the build's critical path.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ivcrush import workers
from ivcrush.errors import IvcrushError
from ivcrush.settings import DBT_PROJECT_DIR, Settings
from ivcrush.workspace import MARTS

# Every model and data test; dbt's unit tests check the SQL logic on fixed inputs, so (as dbt advises) they
# run in the test suite (tests/test_build.py), not in every build of the user's data. Its failures come back
# in the BuildError: no manifest.json and run_results.json (~0.3 s CPU; the partial-parse file is still kept).
PRODUCTION_BUILD = ["build", "--exclude-resource-type", "unit_test", "--no-write-json"]


class BuildError(IvcrushError):
    """dbt failed or the inputs could not be turned into feature tables; nothing was published."""


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def run_dbt(build_dir: Path, settings: Settings, args: list[str], on_mart: Callable[[str], None] | None = None) -> None:
    """Run one dbt command in-process against the build folder; raise BuildError naming what failed.

    `on_mart(name)` is called (from dbt's threads) as soon as a mart's model is written, before its tests.
    dbt runs inside the build folder and names its files relative to it: dbt-duckdb writes the marts' paths
    into SQL string literals, which a workspace path with a quote in it would break.
    """
    os.environ["IVCRUSH_BUILD_DIR"] = "."
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from dbt.cli.main import dbtRunner  # dbt is slow to import; only builds need it

    dbt_vars = {"amc_labels_untrusted": settings.amc_labels_untrusted}
    workdir = settings.workdir.resolve()
    callbacks = [mart_written_callback(on_mart)] if on_mart else []
    with _inside(build_dir):
        result = dbtRunner(callbacks=callbacks).invoke(
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


def mart_written_callback(on_mart: Callable[[str], None]) -> Callable[[Any], None]:
    """A dbt event callback calling `on_mart(name)` when a mart's model has run successfully."""

    def callback(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        node = event.data.node_info
        if node.resource_type == "model" and node.node_name in MARTS and event.data.run_result.status == "success":
            on_mart(node.node_name)

    return callback


def dbt_worker(conn: Connection, parent_pid: int) -> None:
    """The dbt process: imports dbt at once (seconds, while the build loads the raw tables), then runs the one
    dbt command it is sent against the build folder: ("mart", name) for each mart written, then its outcome."""
    workers.die_with_parent(parent_pid)
    logging.raiseExceptions = False  # a log file that cannot be written (disk full) prints no tracebacks
    sending = threading.Lock()  # dbt's threads report their marts

    def send(message: tuple[str, Any]) -> None:
        with sending:
            conn.send(message)

    try:
        os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        importlib.import_module("dbt.cli.main")  # run_dbt imports it again at no cost
        build_dir, settings, args = conn.recv()
        run_dbt(build_dir, settings, args, on_mart=lambda mart: send(("mart", mart)))
        send(("ok", None))
    except EOFError:  # the build stopped before it needed dbt
        pass
    except BaseException as exc:
        send(("error", (type(exc).__name__, str(exc))))
    finally:
        conn.close()

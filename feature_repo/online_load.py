"""Load a registered generation's online store: here, or in a forked process while the caller goes on.

Feast's materialize writes the registry as it goes (each view's state and materialized interval), in place:
it writes into a copy (`registry.loading.db`) that replaces `registry.db` in one rename once every view is
loaded, so that whoever reads the generation's registry meanwhile (the training set, from the offline store)
reads a whole one. The forked process is made safe for what it inherits: it opens its own Feast store (its
own SQLite or Redis connections, its own DuckDB), writes to fresh stdout/stderr objects and log handlers (the
parent's may be locked by a thread at the fork), reports nothing to the parent's progress display, ignores
SIGINT (the parent stops it), and dies with its parent (`workers.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from ivcrush import workers
from ivcrush.feature_repo.packed import PACKED_SOURCE_FILE
from ivcrush.feature_repo.packed_source import write_packed_source
from ivcrush.feature_repo.store import OnlineStoreError, is_unreachable, online_store_errors, open_store
from ivcrush.settings import Settings
from ivcrush.workspace import Generation

LOADING_REGISTRY = "registry.loading.db"
WHAT = "online-store loading"


def load_online_store(settings: Settings, generation: Generation) -> None:
    """Write the packed view's source from the build's marts, then materialize the registered generation's views
    into its online store (events decided up to the end of its as-of day, within the views' time to live); an
    unreachable Redis is an OnlineStoreError."""
    from ivcrush.feature_repo.features import QUARTERLY_TTL

    folder = generation.path(settings.feast_dir)
    write_packed_source(Path(generation.build_dir) / "marts", folder / PACKED_SOURCE_FILE)
    loading = folder / LOADING_REGISTRY
    shutil.copyfile(folder / "registry.db", loading)
    end = datetime.fromisoformat(generation.materialized_until)
    with online_store_errors(settings.online_store, settings.redis_url):
        store = open_store(folder, generation.project, settings.online_store, settings.redis_url, registry=loading)
        quiet = contextlib.nullcontext() if settings.tool_output else contextlib.redirect_stdout(io.StringIO())
        with quiet, warnings.catch_warnings():
            if not settings.tool_output:
                warnings.simplefilter("ignore")  # Feast prints progress bars; ibis warns on every query
            store.materialize(start_date=end - QUARTERLY_TTL, end_date=end)
    os.replace(loading, folder / "registry.db")


@dataclass(frozen=True)
class _Failure:
    """How the loading failed, sent from the forked process (its exception may not pickle)."""

    kind: str
    message: str
    online_store_error: bool
    unreachable: bool


class LoadFailed(workers.WorkerError):
    """The online store could not be loaded (a fault of the machine or of ivcrush; exit code 1)."""


def _fresh_output(tool_output: bool) -> None:
    """In the forked process: stdout, stderr and the root logger's handlers of its own, never the parent's
    (whose locks a thread of the parent may have held at the fork); Feast's output only with `tool_output`."""
    if tool_output:
        sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)  # noqa: SIM115
    else:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.StreamHandler(sys.stderr) if tool_output else logging.NullHandler())


def _load_forked(conn: Connection, parent_pid: int, settings: Settings, generation: Generation) -> None:
    """The forked process: load the online store, send None or the _Failure, end."""
    gc.freeze()  # the parent's objects are never finalized here (its connections are not ours to close)
    workers.die_with_parent(parent_pid)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _fresh_output(settings.tool_output)
    try:
        load_online_store(settings, generation)
    except BaseException as exc:  # every failure is reported to the parent, which raises it
        cause = exc.__cause__ or exc
        conn.send(_Failure(type(exc).__name__, str(exc), isinstance(exc, OnlineStoreError), is_unreachable(cause)))
        return
    conn.send(None)


class BackgroundLoad:
    """The online store of a registered generation, loading in a forked process (started at once)."""

    def __init__(self, settings: Settings, generation: Generation) -> None:
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=False)
        self._process: BaseProcess = context.Process(
            target=_load_forked,
            args=(theirs, os.getpid(), settings, generation),
            name="ivcrush-online-load",
            daemon=True,
        )
        self._conn: Connection = ours
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None  # the child starts with it
        try:
            self._process.start()
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)
        theirs.close()
        self.unreachable = False  # after a failure: the Redis server did not answer (nothing to tear down there)

    def wait(self) -> None:
        """Wait for the loading to end; raise its failure (OnlineStoreError for an unreachable Redis, else
        LoadFailed; a WorkerError where the process ended without a word, e.g. killed)."""
        try:
            failure = workers.receive(self._process, self._conn, WHAT)
        except BaseException:
            self.stop()
            raise
        self.stop(grace=workers.STOP_TIMEOUT_S)  # it ends of itself once it has sent its word
        if failure is None:
            return
        self.unreachable = failure.unreachable
        if failure.online_store_error:
            raise OnlineStoreError(failure.message)
        raise LoadFailed(f"loading the online store failed ({failure.kind}: {failure.message})")

    def stop(self, grace: float = 0.0) -> None:
        """Kill the process where it still runs after `grace` seconds, and wait for it."""
        workers.stop(self._process, self._conn, grace)

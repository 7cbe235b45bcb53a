"""Worker processes that die with their parent, and signals that unwind the parent's clean-up.

A build runs dbt and the data-quality suites in spawned processes. Each worker ignores SIGINT (its parent
decides when to stop it, and a Ctrl-C in the terminal reaches the whole process group), asks the kernel
for SIGKILL when its parent dies (Linux `PR_SET_PDEATHSIG`), and watches its parent as well (elsewhere, and
for the moment before the request takes effect): a killed build leaves no worker behind. The parent stops
its workers on every exit path (`stop`), and `terminate_unwinds` turns SIGTERM into SystemExit so that
those paths run on SIGTERM too.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ivcrush.errors import IvcrushError

PR_SET_PDEATHSIG = 1
PARENT_POLL_S = 0.5
STOP_TIMEOUT_S = 10.0


class WorkerError(IvcrushError):
    """A worker process failed in a way no input explains (a fault of ivcrush or of the machine)."""

    exit_code = 1


def _no_process_shared_locks() -> None:
    """A worker is stopped with SIGKILL once its result is sent, so it must hold no named semaphore: the
    resource tracker would report it as leaked at the parent's exit. tqdm (Great Expectations' progress
    bars) creates one by default for bars across forked processes, which a worker never has."""
    with contextlib.suppress(ImportError):
        from tqdm import tqdm

        tqdm.set_lock(threading.RLock())


def die_with_parent(parent_pid: int) -> None:
    """In a worker: exit as soon as the parent is gone (SIGKILL from the kernel where it can, else a watcher)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _no_process_shared_locks()
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="ivcrush-parent-watch", daemon=True).start()


LOWEST_NICE = 19


def lowest_priority_thread() -> None:
    """Put the calling thread alone (and the threads it starts) at the lowest CPU priority, so that it runs on
    the CPU the other threads and processes leave idle. Linux only, where the nice value is a per-thread
    attribute (setpriority(2)); elsewhere, or where it is refused, nothing changes."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_NICE)


def start(target: Callable[..., None], args: tuple[Any, ...], name: str) -> tuple[BaseProcess, Connection]:
    """Spawn `target(conn, parent_pid, *args)` in a fresh interpreter; return the process and our pipe end."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs, os.getpid(), *args), name=name, daemon=True)
    # Started with SIGINT ignored, which the new interpreter keeps: a Ctrl-C while it starts up (before
    # `die_with_parent` runs) prints no KeyboardInterrupt traceback from the worker either.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        process.start()
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    theirs.close()
    return process, ours


def stop(process: BaseProcess, conn: Connection, grace: float = 0.0) -> None:
    """Stop a worker and wait for it: SIGKILL where it has not ended on its own within `grace` seconds."""
    conn.close()
    process.join(grace)
    if process.is_alive():
        process.kill()
    process.join(STOP_TIMEOUT_S)


def receive(process: BaseProcess, conn: Connection, what: str) -> Any:
    """The worker's next message; a worker that ended without one is a WorkerError naming its exit code."""
    try:
        return conn.recv()
    except EOFError as exc:
        process.join(STOP_TIMEOUT_S)
        raise WorkerError(f"the {what} process ended without a result (exit code {process.exitcode})") from exc


def _exit_on_terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def terminate_unwinds() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM raises SystemExit(143): every `finally` runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

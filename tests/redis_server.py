"""A real redis-server on 127.0.0.1 for the tests: started on a free port, stopped by its pid; the port and
server helpers the API tests and benchmarks/bench_serve.py share."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield the connection string of a fresh, empty, non-persistent redis-server."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (Debian package redis-server; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process, 10, "redis-server")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen, seconds: float, what: str) -> None:
    """Return once `process` accepts connections on 127.0.0.1:`port`; fail after `seconds` or if it exits."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{what} did not start on port {port}") from None
            time.sleep(0.05)


def worker_connections(pid: int, port: int) -> list[int]:
    """The open connections of each worker of the server `pid` listening on `port` (the server itself when it
    has one worker), most first: keep-alive connections stay with the worker that accepted them."""
    root = psutil.Process(pid)
    counts = {}
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            connections = [c for c in process.net_connections("tcp") if c.laddr and c.laddr.port == port]
            if any(c.status == psutil.CONN_LISTEN for c in connections):
                counts[process.pid] = sum(c.status == psutil.CONN_ESTABLISHED for c in connections)
    if len(counts) > 1:
        counts.pop(pid, None)  # the parent of several workers holds the listening socket but accepts nothing
    return sorted(counts.values(), reverse=True)

"""The HTTP load of `bench_serve`: keep-alive clients on loopback, and the server's CPU time."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import psutil


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (uvicorn's workers): the sum over their living
    threads of /proc/PID/task/TID/schedstat's nanoseconds on a CPU (/proc's utime and stime count 10 ms
    ticks: a quarter of a 300-request /health level's server CPU)."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        for schedstat in Path(f"/proc/{process.pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError):  # a thread or a process that ended meanwhile
                total += int(schedstat.read_text().split()[0])
    return total / 1e9


def settle(pid: int, timeout: float = 120.0) -> None:
    """Wait until the server is idle (under 5% of a core for half a second): its workers listen as soon as the
    parent does, but load their state and forecast the upcoming events after; that CPU is no request's."""
    deadline = time.monotonic() + timeout
    before = tree_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu(pid)
        if now - before < 0.025:
            return
        before = now


class Client:
    """A lean HTTP/1.1 keep-alive client for the load (http.client cost the shared cores 0.2 ms a request):
    one GET at a time on one connection, each answer read whole (by its Content-Length); a new connection
    where the server closed one (`Connection: close`, or an idle one it timed out)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def _read_head(self, sock: socket.socket) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the server closed the connection")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head, body

    def get(self, request: bytes) -> int:
        """The status of the answer to `request` (a whole GET), read to its end."""
        reused = self.sock is not None
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock.sendall(request)
            head, body = self._read_head(self.sock)
        except ConnectionError:
            self.close()
            if not reused:
                raise
            return self.get(request)  # the server had closed the idle connection: once more on a new one
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the server closed the connection during an answer")
            body += chunk
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(status.split()[1])

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Load(NamedTuple):
    latencies: list[float]
    seconds: float
    errors: int
    spread: str  # what `probe` said after the last request, before the connections closed ("" without one)


def load(
    port: int, path: str, clients: int, requests: int, max_seconds: float, probe: Callable[[], str] | None = None
) -> Load:
    """`requests` GETs of `path` shared by `clients` keep-alive connections (stopped at `max_seconds`); `probe`
    is asked once all of them are done, while they are still open (not during the load: it holds the GIL)."""
    latencies: list[float] = []
    errors = [0]
    left = [requests]
    lock = threading.Lock()
    done = threading.Barrier(clients + 1)
    probed = threading.Event()
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        connection = Client(port)
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        try:
            while time.monotonic() < deadline:
                with lock:
                    if left[0] == 0:
                        break
                    left[0] -= 1
                started = time.perf_counter()
                status = connection.get(request)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors[0] += status != 200
        except BaseException:
            done.abort()  # a failed client ends the level: the others and the caller stop waiting for it
            raise
        finally:
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait()
            probed.wait()
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        done.wait()
        seconds = time.perf_counter() - started
        spread = "" if probe is None else probe()
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a load client of {path} failed (its traceback is above)") from None
    finally:
        probed.set()
        for thread in threads:
            thread.join()
    return Load(latencies, seconds, errors[0], spread)

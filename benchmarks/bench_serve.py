"""Serving figures: the warm in-process Predictor (one prediction, a 100-event scan, and where the time goes),
`ivcrush predict` cold, and `ivcrush serve` under load on loopback (1, 8, 32 concurrent clients; SQLite and
Redis online stores).

    python -m benchmarks.bench_serve [--db PATH] [--day YYYY-MM-DD] [--requests N] [--max-seconds S]

Defaults to the real snapshot ../shared/data/ivcrush.db, published as of its busiest late calendar day.
Works in a temporary workspace; every load level is bounded by a request count and a time limit; the
servers and redis-server are started here on 127.0.0.1 and stopped by their pid.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import psutil

from benchmarks import SHARED_SNAPSHOT
from ivcrush.build import build
from ivcrush.feature_repo.materialize import materialize
from ivcrush.serving.market import event_market
from ivcrush.serving.predict import recommend
from ivcrush.serving.predictor import Predictor
from ivcrush.serving.recommendation import forecast_distribution
from ivcrush.serving.strategy import decide_one
from ivcrush.settings import Settings
from ivcrush.training.predict import ensemble
from ivcrush.training.release import train_and_register
from tests.redis_server import free_port, wait_for_port

CLIENTS = (1, 8, 32)
PARTS = ("in-process", "cold", "sqlite", "redis")
TARGETS = "targets: warm predict p99 <= 2 ms; 100-event scan p99 <= 20 ms; HTTP 8 clients SQLite p99 <= 10 ms"


def _ms(samples: list[float] | tuple[list[float], list[float]]) -> str:
    """p50 and p99 in ms (wall time; for in-process figures also the CPU time of the thread)."""
    walls, cpus = samples if isinstance(samples, tuple) else (samples, [])
    out = " ".join(f"{np.percentile(np.array(walls) * 1000, q):8.2f}" for q in (50, 99))
    if cpus:
        out += " " + " ".join(f"{np.percentile(np.array(cpus) * 1000, q):8.2f}" for q in (50, 99))
    return out


def _repeat(action: Callable[[], object], count: int) -> tuple[list[float], list[float]]:
    """Wall and thread CPU seconds of `count` calls (after one warm-up): the CPU time is what a request costs
    whatever else runs on this shared machine."""
    action()
    walls, cpus = [], []
    for _ in range(count):
        started, cpu = time.perf_counter(), time.thread_time()
        action()
        walls.append(time.perf_counter() - started)
        cpus.append(time.thread_time() - cpu)
    return walls, cpus


@contextmanager
def _process(command: list[str], port: int, what: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, 120, what)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _tree_cpu(pid: int) -> float:
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


def _settle(pid: int, timeout: float = 120.0) -> None:
    """Wait until the server is idle (under 5% of a core for half a second): its workers listen as soon as the
    parent does, but load their state and forecast the upcoming events after; that CPU is no request's."""
    deadline = time.monotonic() + timeout
    before = _tree_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _tree_cpu(pid)
        if now - before < 0.025:
            return
        before = now


def _spread(pid: int, port: int) -> str:
    """The open connections of each worker (the processes listening on `port`; the server itself with one
    worker), most first: keep-alive connections stay with the worker that accepted them."""
    root = psutil.Process(pid)
    counts = {}
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            connections = [c for c in process.net_connections("tcp") if c.laddr and c.laddr.port == port]
            if any(c.status == psutil.CONN_LISTEN for c in connections):
                counts[process.pid] = sum(c.status == psutil.CONN_ESTABLISHED for c in connections)
    if len(counts) > 1:
        counts.pop(pid, None)  # the parent of several workers holds the listening socket but accepts nothing
    return "/".join(str(count) for count in sorted(counts.values(), reverse=True))


def in_process(settings: Settings, day: date, ticker: str, repeats: int) -> None:
    """The warm Predictor: one prediction, 100 events, and the parts of one prediction."""
    predictor = Predictor(settings)
    state = predictor.state()
    header = f"{'p50 ms':>8} {'p99 ms':>8} {'cpu p50':>8} {'cpu p99':>8}"
    print(f"\n{'in-process, warm (one Predictor)':<52} {header}")
    print(f"{'state check (stat of pointer, build link, models)':<52} {_ms(_repeat(predictor.state, repeats))}")

    def first() -> object:  # the event's first request of the state: online read, models, distribution, decision
        state.forget_forecasts()
        return predictor.predict(ticker, day, implied_move=6.0, spot=100.0)

    print(f"{f'predict {ticker} {day}: first request of the event':<52} {_ms(_repeat(first, repeats))}")
    implied_moves = iter(np.resize(np.linspace(3.0, 12.0, 37), repeats + 1).tolist())  # a new market each request
    one = _repeat(lambda: predictor.predict(ticker, day, implied_move=next(implied_moves), spot=100.0), repeats)
    print(f"{'  again (forecast kept; a new implied move)':<52} {_ms(one)}")
    end = pd.Timestamp(state.generation.materialized_until)
    events = state.events
    served = events[events["event_timestamp"] <= end].sort_values("event_timestamp").groupby("ticker").tail(1)
    served = served[served["event_timestamp"] > end - pd.Timedelta(days=120)].head(100).reset_index(drop=True)
    implied = pd.DataFrame({"ticker": served["ticker"], "implied_move_pct": 6.0, "spot": 100.0})
    options = {"implied": implied, "account": settings.account, "costs": settings.costs}

    def scan_first() -> object:  # every event's first request: the online reads and the models included
        state.forget_forecasts()
        return recommend(state, served, **options)

    hundred = _repeat(scan_first, max(repeats // 10, 20))
    print(f"{f'scan of {len(served)} events (recommend): first':<52} {_ms(hundred)}")
    again = _repeat(lambda: recommend(state, served, **options), max(repeats // 10, 20))
    print(f"{'  again: forecasts kept':<52} {_ms(again)}")
    reader = state.reader()
    read_all = _repeat(lambda: reader.features(served), max(repeats // 10, 20))
    print(f"{f'  part: online features of the {len(served)} events':<52} {_ms(read_all)}")
    # the parts of one prediction
    mine = served[served["ticker"] == ticker] if ticker in set(served["ticker"]) else served.head(1)
    model = state.serving_model()
    read = _repeat(lambda: reader.features(mine), repeats)
    print(f"{'  part: online features (read + event check)':<52} {_ms(read)}")
    frame = reader.features(mine)
    parts = _repeat(lambda: ensemble(model, frame, model.verdicts), repeats)
    print(f"{'  part: models + calibrated distribution':<52} {_ms(parts)}")
    prediction = ensemble(model, frame, model.verdicts)[0]
    override = {"ticker": frame["ticker"].iloc[0], "implied_move_pct": 6.0, "spot": 100.0}
    dates = {key: pd.Timestamp(mine[key].iloc[0]).date() for key in ("decision_date", "reaction_date")}
    market = event_market(frame.iloc[0], override, None, **dates)

    def strategy() -> object:  # a new distribution each time: nothing computed before (its q99, nodes, mean)
        distribution = forecast_distribution(prediction)  # type: ignore[arg-type]
        return decide_one(
            distribution, market=market, prob_up=prediction["p_up"], account=settings.account, costs=settings.costs
        )

    print(f"{'  part: strategy (new distribution + decide_one)':<52} {_ms(_repeat(strategy, repeats))}")
    kept = forecast_distribution(prediction)  # type: ignore[arg-type]
    options_one = {"market": market, "prob_up": prediction["p_up"], "account": settings.account}
    decided = _repeat(lambda: decide_one(kept, costs=settings.costs, **options_one), repeats)  # type: ignore[arg-type]
    print(f"{'  part: decide_one on a kept distribution':<52} {_ms(decided)}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_predict(settings: Settings, day: date, ticker: str, runs: int) -> None:
    """`ivcrush predict` as its own process: imports, state, one prediction (wall time, and the CPU time of
    the process: what it costs whatever else runs on this shared machine)."""
    command = [sys.executable, "-m", "ivcrush.cli", "predict", ticker, "--date", day.isoformat(), "--implied-move", "6"]
    seconds, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), _children_cpu()
        subprocess.run([*command, "--workdir", str(settings.workdir), "--json"], check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu)
    spread = f"{min(seconds):.2f}-{max(seconds):.2f}"
    print(
        f"\n`ivcrush predict` cold: median {statistics.median(seconds):.2f} s, range {spread} s; "
        f"CPU median {statistics.median(cpus):.2f} s"
    )


class _Client:
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


def _load(
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
        connection = _Client(port)
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
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
        done.wait()
        probed.wait()
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    done.wait()
    seconds = time.perf_counter() - started
    spread = "" if probe is None else probe()
    probed.set()
    for thread in threads:
        thread.join()
    return Load(latencies, seconds, errors[0], spread)


def _level(pid: int, port: int, path: str, clients: int, count: int, args: argparse.Namespace) -> str:
    """One load level's row: requests, p50/p99, throughput, server and load-generator CPU ms per request
    (counted until the last answer), errors and the connections' spread over the workers."""
    cpu, client_cpu = _tree_cpu(pid), time.process_time()
    ended: list[float] = []

    def probe() -> str:
        ended.extend((_tree_cpu(pid), time.process_time()))  # the load is over: stop the clocks
        return _spread(pid, port)

    load = _load(port, path, clients, count, args.max_seconds, probe)
    answered = max(len(load.latencies), 1)
    cpu_ms, client_ms = ((end - start) * 1000 / answered for start, end in zip((cpu, client_cpu), ended, strict=True))
    return (
        f"{len(load.latencies):>8} {_ms(load.latencies)} {len(load.latencies) / load.seconds:10.0f} "
        f"{cpu_ms:>8.2f} {client_ms:>8.2f} {load.errors:>6} {load.spread:>8}"
    )


def over_http(settings: Settings, label: str, day: date, ticker: str, args: argparse.Namespace) -> None:
    """`ivcrush serve` (one worker, and two) under 1, 8 and 32 concurrent clients: /health (the framework's own
    cost: a state check and a small JSON), /predict and /scan; with the CPU ms per request of the servers (`cpu
    ms`) and of this process, the load generator (`load ms`: it shares the cores), and how the clients'
    connections spread over the workers (`spread`: open connections per worker, most first)."""
    for workers in (int(count) for count in args.workers.split(",")):
        port = free_port()
        command = [sys.executable, "-m", "ivcrush.cli", "serve", "--port", str(port), "--workers", str(workers)]
        with _process([*command, "--workdir", str(settings.workdir)], port, "ivcrush serve") as server:
            paths = {
                "health": "/health",
                "predict": f"/predict/{ticker}?date={day}&implied_move=6",
                "scan": f"/scan/{day}",
            }
            _settle(server.pid)
            for name, path in paths.items():
                if name not in args.paths.split(","):
                    continue
                _load(port, path, 2 * workers, 8 * workers, args.max_seconds)  # warm the workers (most likely all)
                for clients in CLIENTS:
                    count = max(args.requests // 10, clients * 2) if name == "scan" else args.requests
                    row = _level(server.pid, port, path, clients, count, args)
                    print(f"{label:<7} {workers:>7} {name:<8} {clients:>7} {row}")


@contextmanager
def _redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    with _process(command, port, "redis-server"):
        yield f"127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=SHARED_SNAPSHOT)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2025, 10, 30))
    parser.add_argument("--requests", type=int, default=400, help="requests per /predict load level")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="time limit per load level")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--workdir", type=Path, help="a workspace to keep (made once, reused when it exists)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default: all)"
    )
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts of the HTTP servers")
    parser.add_argument("--paths", default="health,predict,scan", help="comma-separated, of health, predict, scan")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.pop("IVCRUSH_ONLINE_STORE", None)

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(workdir=args.workdir or Path(folder) / "work", db=args.db.resolve())
        if not (settings.workdir / "models").is_dir():
            build(settings)
            materialize(settings, args.day)
            train_and_register(settings, num_boost_round=100, quick_folds=2)
        materialize(settings, args.day, reuse=True)  # again where the kept one predates what serving reads
        state = Predictor(settings).state()
        day_events = state.events.iloc[state.by_day[args.day]]
        ticker = str(day_events.sort_values("ticker")["ticker"].iloc[0])
        print(f"real snapshot published as of {args.day} ({len(day_events)} events that day); {TARGETS}")
        parts = set(args.parts.split(","))
        if "in-process" in parts:
            in_process(settings, args.day, ticker, args.repeats)
        if "cold" in parts:
            cold_predict(settings, args.day, ticker, 5)
        if not parts & {"sqlite", "redis"}:
            return
        print(
            f"\n{'store':<7} {'workers':>7} {'path':<8} {'clients':>7} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'req/s':>10} {'cpu ms':>8} {'load ms':>8} {'errors':>6} {'spread':>8}"
        )
        if "sqlite" in parts:
            over_http(settings, "sqlite", args.day, ticker, args)
        if "redis" not in parts:
            return
        with _redis() as url:
            redis = replace(settings, workdir=Path(folder) / "redis-work", online_store="redis", redis_url=url)
            shutil.rmtree(redis.workdir, ignore_errors=True)
            shutil.copytree(settings.workdir, redis.workdir, symlinks=True)
            materialize(redis, args.day)
            over_http(redis, "redis", args.day, ticker, args)


if __name__ == "__main__":
    main()

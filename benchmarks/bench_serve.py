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
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import SHARED_SNAPSHOT
from benchmarks.http_load import load, settle, tree_cpu
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
from tests.redis_server import free_port, wait_for_port, worker_connections

CLIENTS = (1, 8, 32)
EXPIRY_DAYS = 7  # the in-process scan also with an expiry this many days after each earnings date
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
    expiry = day + timedelta(days=EXPIRY_DAYS)

    def first_timed() -> object:
        state.forget_forecasts()
        return predictor.predict(ticker, day, implied_move=6.0, spot=100.0, expiration=expiry)

    print(f"{f'  with an expiry {EXPIRY_DAYS} days after':<52} {_ms(_repeat(first_timed, repeats))}")
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

    count = max(repeats // 10, 20)
    hundred = _repeat(scan_first, count)
    print(f"{f'scan of {len(served)} events (recommend): first':<52} {_ms(hundred)}")
    again = _repeat(lambda: recommend(state, served, **options), count)
    print(f"{'  again: forecasts kept':<52} {_ms(again)}")
    # the same events with an expiry a week after each earnings date (a weekly): the legs keep time value at the
    # exit, so each is repriced by Black-Scholes at every quadrature move
    weekly = [(pd.Timestamp(day) + pd.Timedelta(days=EXPIRY_DAYS)).date() for day in served["earnings_date"]]
    timed = {**options, "implied": implied.assign(expiration=weekly)}

    def scan_first_timed() -> object:
        state.forget_forecasts()
        return recommend(state, served, **timed)

    print(f"{f'  with an expiry {EXPIRY_DAYS} days after: first':<52} {_ms(_repeat(scan_first_timed, count))}")
    kept_timed = _repeat(lambda: recommend(state, served, **timed), count)
    print(f"{'  with an expiry: again, forecasts kept':<52} {_ms(kept_timed)}")
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


def _level(pid: int, port: int, path: str, clients: int, count: int, args: argparse.Namespace) -> str:
    """One load level's row: requests, p50/p99, throughput, server and load-generator CPU ms per request
    (counted until the last answer), errors and the connections' spread over the workers."""
    cpu, client_cpu = tree_cpu(pid), time.process_time()
    ended: list[float] = []

    def probe() -> str:
        ended.extend((tree_cpu(pid), time.process_time()))  # the load is over: stop the clocks
        return "/".join(str(count) for count in worker_connections(pid, port))

    answers = load(port, path, clients, count, args.max_seconds, probe)
    answered = max(len(answers.latencies), 1)
    cpu_ms, client_ms = ((end - start) * 1000 / answered for start, end in zip((cpu, client_cpu), ended, strict=True))
    return (
        f"{len(answers.latencies):>8} {_ms(answers.latencies)} {len(answers.latencies) / answers.seconds:10.0f} "
        f"{cpu_ms:>8.2f} {client_ms:>8.2f} {answers.errors:>6} {answers.spread:>8}"
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
            settle(server.pid)
            for name, path in paths.items():
                if name not in args.paths.split(","):
                    continue
                load(port, path, 2 * workers, 8 * workers, args.max_seconds)  # warm the workers (most likely all)
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

"""The warm in-process 100-event scan alone (the scan rows of `bench_serve`, with more repetitions): one
Predictor, the same 100 events and options as `bench_serve.in_process`, wall and thread-CPU p50/p99 of the
scan as each event's first request of the state (its forecasts forgotten before every scan: online read, models,
distribution, decision) and again (forecasts kept, decisions made anew), with the garbage collector on (as
served) and off, the online-features part, and the load average.

    python -m benchmarks.bench_scan --workdir W [--repeats 200] [--rounds 2]

W is a workspace that `ivcrush run` (or `bench_serve --workdir W`) made; published as of `--day` where it is not
already (the events served are the latest 100 decided up to that day).
"""

from __future__ import annotations

import argparse
import gc
import os
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import SHARED_SNAPSHOT
from benchmarks.bench_serve import _repeat
from ivcrush.feature_repo.materialize import materialize
from ivcrush.serving.predict import ServingState, recommend
from ivcrush.serving.predictor import Predictor
from ivcrush.settings import Settings


def _timed(action: Callable[[], object], count: int) -> str:
    """Wall and thread-CPU ms p50 / p99 of `count` calls after one warm-up (`bench_serve._repeat`)."""
    walls, cpus = _repeat(action, count)
    wall, cpu_ms = np.array(walls) * 1000, np.array(cpus) * 1000
    return (
        f"wall {np.percentile(wall, 50):6.1f} / {np.percentile(wall, 99):6.1f}   "
        f"CPU {np.percentile(cpu_ms, 50):6.1f} / {np.percentile(cpu_ms, 99):6.1f}"
    )


def hundred_events(state: ServingState) -> pd.DataFrame:
    """`bench_serve`'s 100 events: each ticker's latest event decided in the 120 days up to the publication."""
    end = pd.Timestamp(state.generation.materialized_until)
    events = state.events
    served = events[events["event_timestamp"] <= end].sort_values("event_timestamp").groupby("ticker").tail(1)
    return served[served["event_timestamp"] > end - pd.Timedelta(days=120)].head(100).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--db", type=Path, default=SHARED_SNAPSHOT)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2025, 10, 30))
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.pop("IVCRUSH_ONLINE_STORE", None)
    settings = Settings(workdir=args.workdir, db=args.db.resolve())
    materialize(settings, args.day, reuse=True)
    predictor = Predictor(settings)
    predictor.state()
    state = predictor.state()  # asked again, as a server does: settled out of the garbage collector's sight
    served = hundred_events(state)
    implied = pd.DataFrame({"ticker": served["ticker"], "implied_move_pct": 6.0, "spot": 100.0})
    options = {"implied": implied, "account": settings.account, "costs": settings.costs}
    reader = state.reader()

    def scan() -> object:
        return recommend(state, served, **options)

    def scan_first() -> object:
        state.forget_forecasts()
        return scan()

    print(f"{len(served)} events, {args.repeats} scans a line; ms p50 / p99")
    for _ in range(args.rounds):
        load = os.getloadavg()[0]
        for name, action in (("first", scan_first), ("again", scan)):
            print(f"load {load:4.1f}  scan {name}, gc on:  {_timed(action, args.repeats)}")
            gc.disable()
            try:
                print(f"load {load:4.1f}  scan {name}, gc off: {_timed(action, args.repeats)}")
            finally:
                gc.enable()
        print(f"load {load:4.1f}  online features: {_timed(lambda: reader.features(served), args.repeats)}")


if __name__ == "__main__":
    main()

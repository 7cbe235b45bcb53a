"""Feature-store figures: build, materialize and training-set wall time; online read latency p50/p99.

    python -m benchmarks.bench_feature_store [--db PATH] [--as-of YYYY-MM-DD] [--repeats N]

Defaults to the real snapshot ../shared/data/ivcrush.db. Works in a temporary workspace.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from benchmarks import SHARED_SNAPSHOT
from ivcrush.build import build
from ivcrush.feature_repo.feature_names import FEATURE_SERVICE_NAME
from ivcrush.feature_repo.materialize import materialize
from ivcrush.feature_repo.store import open_published_store
from ivcrush.settings import Settings
from ivcrush.training.data import training_set
from ivcrush.workspace import Generation, mart_path

T = TypeVar("T")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.array(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def _timed(label: str, action: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=SHARED_SNAPSHOT)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2025, 12, 9))
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(workdir=Path(folder), db=args.db.resolve())
        _timed("build (snapshot + dbt build)", lambda: build(settings))
        generation = _timed("materialize (apply + load online store)", lambda: materialize(settings, args.as_of))
        dataset = _timed("point-in-time training set (all past events)", lambda: training_set(settings))
        print(f"  {len(dataset):,} events x {dataset.shape[1]} columns; {generation.online_rows:,} tickers online")

        store = open_published_store(settings, generation)
        service = store.get_feature_service(FEATURE_SERVICE_NAME)
        events = pd.read_parquet(mart_path(Path(generation.build_dir), "earnings_events"))
        tickers = sorted(events["ticker"].unique())
        online_db = Path(generation.path(settings.feast_dir)) / "online_store.db"
        print(f"\n{'online read (in-process)':<44} {'p50 ms':>8} {'p99 ms':>8}")
        for count in (1, 100):
            rows = [{"ticker": t} for t in tickers[:count]]
            store.get_online_features(features=service, entity_rows=rows)  # warm caches
            samples = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                store.get_online_features(features=service, entity_rows=rows).to_dict()
                samples.append(time.perf_counter() - started)
            p50, p99 = _percentiles(samples)
            print(f"{f'Feast get_online_features, {count} ticker(s)':<44} {p50:8.2f} {p99:8.2f}")
        if online_db.exists():
            import sqlite3

            with sqlite3.connect(online_db) as con:
                table = next(
                    name
                    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
                    if name.endswith("historical_move_features")
                )
                for count in (1, 100):
                    keys = [row[0] for row in con.execute(f'SELECT DISTINCT entity_key FROM "{table}" LIMIT {count}')]
                    marks = ",".join("?" * len(keys))
                    query = f'SELECT entity_key, feature_name, value FROM "{table}" WHERE entity_key IN ({marks})'
                    samples = []
                    for _ in range(args.repeats):
                        started = time.perf_counter()
                        con.execute(query, keys).fetchall()
                        samples.append(time.perf_counter() - started)
                    p50, p99 = _percentiles(samples)
                    print(f"{f'plain sqlite3, one view, {count} ticker(s)':<44} {p50:8.2f} {p99:8.2f}")
        _serving_latency(settings, generation, events, args.repeats // 10 or 1)
        print(f"\n{args.repeats} reads each (serving: a tenth of that), one process")


def _serving_latency(settings: Settings, generation: Generation, events: pd.DataFrame, repeats: int) -> None:
    """Features + models + strategy in-process from one warm serving state, for 1 event and 100 events
    (`benchmarks.bench_serve` has the full serving figures)."""
    from ivcrush.serving.predict import load_state, recommend
    from ivcrush.training.release import train_and_register

    train_and_register(settings, num_boost_round=100, quick_folds=2)
    state = load_state(settings)
    end = pd.Timestamp(generation.materialized_until)
    served = events[events["event_timestamp"] <= end].sort_values("event_timestamp").groupby("ticker").tail(1)
    served = served[served["event_timestamp"] > end - pd.Timedelta(days=120)].head(100).reset_index(drop=True)
    implied = pd.DataFrame({"ticker": served["ticker"], "implied_move_pct": 6.0, "spot": 100.0})
    for count in (1, len(served)):
        chosen = served.head(count)
        recommend(state, chosen, implied=implied)
        samples = []
        for _ in range(repeats):
            state.forget_forecasts()  # the events' online reads and models each time, as on a first request
            started = time.perf_counter()
            recommend(state, chosen, implied=implied)
            samples.append(time.perf_counter() - started)
        p50, p99 = _percentiles(samples)
        print(f"{f'prediction (features+models+strategy), {count} event(s)':<44} {p50:8.2f} {p99:8.2f}")


if __name__ == "__main__":
    main()

"""Journal replay and simulation wall time once a walk-forward evaluation exists (issue 14: <= 10 s on 500 lots).

    python -m benchmarks.bench_backtest [--workdir W] [--repeat N]

Without --workdir: a sample database whose journal has ~500 lots (`sample-db --tickers 3360 --years 7 --seed 3`:
503 lots), and the main job (`ivcrush run`: build, materialize, evaluate, train) in a temporary workspace;
then each command runs as its own `ivcrush` process (imports included, as a user runs it), and the replay
itself is timed in this process too.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ivcrush.settings import load_settings
from ivcrush.source.sample import write_sample_db
from ivcrush.training.backtest.journal import run_journal_backtest
from ivcrush.training.backtest.simulate import run_simulation
from ivcrush.workspace import published

SAMPLE = {"tickers": 3360, "years": 7, "seed": 3}  # a journal of 503 lots


def _ivcrush(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("ivcrush")), *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _prepare(folder: Path) -> Path:
    db = folder / "sample.db"
    write_sample_db(db, **SAMPLE)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        lots = con.execute("select count(*) from trade_journal").fetchone()[0]
    workdir = folder / "work"
    seconds = _ivcrush("run", "--db", str(db), "--workdir", str(workdir))
    print(f"prepared: sample journal of {lots} lots, main job (with the evaluation) {seconds:.1f} s")
    return workdir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="A workspace with a published build and an evaluation.")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or _prepare(Path(tmp))
        settings = load_settings().with_overrides(workdir=workdir)
        generation = published(settings)
        for name, command in (
            ("journal replay (process)", ["backtest", "journal", "--json", "--workdir", str(workdir)]),
            ("simulation (process)", ["backtest", "simulate", "--json", "--workdir", str(workdir)]),
        ):
            times = [_ivcrush(*command) for _ in range(args.repeat)]
            print(f"{name}: median {statistics.median(times):.2f} s (of {args.repeat}: {times})")
        for name, run in (
            ("journal replay (in process)", lambda: run_journal_backtest(settings, generation, None, None)),
            ("simulation (in process)", lambda: run_simulation(settings, generation, None, None, None)),
        ):
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                result = run()
                times.append(time.perf_counter() - started)
            size = f"{len(result['campaigns'])} campaigns" if "campaigns" in result else f"{result['events']} events"
            print(f"{name}: median {statistics.median(times):.2f} s ({size})")


if __name__ == "__main__":
    main()

"""Wall time and peak memory of every pipeline stage, on the real snapshot and on sample databases of
1x, 10x and 100x its events, with the growth ratio per 10x of data.

    python -m benchmarks.bench_stages [--scales real,1,10,100] [--stages build,validate,...] [--repeat N]
    python -m benchmarks.bench_stages --scales real --stages main --repeat 5   # the README's main job
    python -m benchmarks.bench_stages --incremental [--repeat N]   # the main job's re-runs (issue 17)

Each stage runs as its own `ivcrush` process (as a user would run it), so its figures include imports;
peak memory is the largest sum of the resident set sizes of the stage's processes (the build runs dbt and
Great Expectations in processes of their own), sampled every 20 ms. With --repeat, each figure is the
median of N runs and the wall-time range is printed too (a shared 2-core machine varies by +-15%).
Sample databases are generated once per scale (the generation time is printed, not counted).

--incremental: the main job (`ivcrush run --json`, one process each) in one workspace on a private copy of
the real snapshot: from scratch without the snapshot's latest earnings day, unchanged, with that day's
outcomes added (the snapshot as it is), unchanged, `--force`; each run's wall time, its stages' seconds and
the trainings it reused. The shared snapshot is only read (copied).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks import SHARED_SNAPSHOT

REAL_EVENTS = 4_508
FAULT_HANDLER = {"PYTHONFAULTHANDLER": "1"}  # a crash (e.g. SIGSEGV) prints every thread's Python stack
FAILURE_LINES = 400  # every thread's stack of a crash (40 cut the crashing thread's)
MOVES_PER_TICKER = 12.35  # what the sample generator writes per ticker over 6 years (measured)
STAGES = {
    "main": ["run"],  # the whole main job in a fresh workspace; not in the default list
    "build": ["build"],
    "validate": ["validate"],
    "materialize": ["materialize", "--as-of", "{as_of}"],
    "dataset": ["dataset", "--out", "{workdir}/dataset.parquet"],
    "train": ["train"],
    "evaluate": ["evaluate", "--folds", "3", "--json"],
    "scan": ["scan", "{as_of}"],
}


def _ivcrush() -> str:
    return str(Path(sys.executable).with_name("ivcrush"))


def _available(stage: str) -> bool:
    listing = subprocess.run([_ivcrush(), "-h"], capture_output=True, text=True, check=True).stdout
    return f" {STAGES[stage][0]} " in listing


def _print_failure(args: list[str], code: int, stderr: str) -> None:
    """A failed run's exit code and the end of its stderr (with Python's fault handler on: a crash's stacks)."""
    print(f"# FAILED (exit {code}): ivcrush {' '.join(args)}; the end of its stderr:", flush=True)
    for line in stderr.splitlines()[-FAILURE_LINES:]:
        print(f"#   {line}", flush=True)


def run_stage(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak MiB of the process tree, exit code) of one ivcrush process; a failure's stderr is
    printed."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = psutil.Popen(
            [_ivcrush(), *args], env={**env, **FAULT_HANDLER}, stdout=subprocess.DEVNULL, stderr=stderr
        )
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss(process))
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        if process.returncode:
            stderr.seek(0)
            _print_failure(args, int(process.returncode), stderr.read().decode(errors="replace"))
    return seconds, peak / 2**20, int(process.returncode)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def _database(scale: str, folder: Path) -> tuple[Path, str]:
    if scale == "real":
        return SHARED_SNAPSHOT, "2025-12-09"
    from ivcrush.source.sample import write_sample_db

    path = folder / f"sample-{scale}x.db"
    tickers = max(1, round(REAL_EVENTS * float(scale) / MOVES_PER_TICKER))
    started = time.perf_counter()
    counts = write_sample_db(path, tickers=tickers)
    print(
        f"# sample {scale}x: {tickers:,} tickers, {counts['historical_moves']:,} past moves, "
        f"written in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return path, "2025-07-01"


SEQUENCE = (
    ("scratch", "without the latest day", ()),
    ("unchanged", "without the latest day", ()),
    ("new day", "the snapshot", ()),
    ("unchanged", "the snapshot", ()),
    ("--force", "the snapshot", ("--force",)),
)
LATEST_DAY = "(SELECT max(earnings_date) FROM historical_moves)"


def _cpu_seconds() -> float:
    """User + system seconds of this process's waited-for children (and theirs: the build's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def incremental_sequence(root: Path) -> list[tuple[str, float, float, dict[str, object]]]:
    """The main job's runs of `SEQUENCE` in one fresh workspace: (run, wall seconds, CPU seconds, its JSON
    document). On a shared machine the CPU seconds move less with the load than the wall time."""
    whole, before = root / "snapshot.db", root / "before.db"
    shutil.copyfile(SHARED_SNAPSHOT, whole)  # read only: every write goes to the copies
    shutil.copyfile(whole, before)
    con = sqlite3.connect(before)
    try:
        with con:
            con.execute(f"DELETE FROM historical_moves WHERE earnings_date = {LATEST_DAY}")
    finally:
        con.close()  # the deletion checkpointed into the file that is copied
    database, workdir = root / "ivcrush.db", root / "work"
    shutil.rmtree(workdir, ignore_errors=True)
    runs = []
    for name, state, extra in SEQUENCE:
        shutil.copyfile(before if state.startswith("without") else whole, database)
        started, cpu = time.perf_counter(), _cpu_seconds()
        args = ["run", "--db", str(database), "--workdir", str(workdir), "--json", *extra]
        done = subprocess.run(
            [_ivcrush(), *args], capture_output=True, text=True, env={**os.environ, **FAULT_HANDLER}, check=False
        )
        if done.returncode:
            _print_failure(args, done.returncode, done.stderr)
            done.check_returncode()
        runs.append((name, time.perf_counter() - started, _cpu_seconds() - cpu, json.loads(done.stdout)))
    return runs


def print_incremental(repeat: int, root: Path) -> None:
    """Each run of `repeat` sequences, then the median wall time of each kind of run."""
    walls: dict[str, list[tuple[float, float]]] = {}
    for number in range(1, repeat + 1):
        for name, seconds, cpu, document in incremental_sequence(root):
            walls.setdefault(name, []).append((seconds, cpu))
            stages = " ".join(f"{k} {v:.1f}" for k, v in document.get("stage_seconds", {}).items())
            print(
                f"# {number} {name:<10} {seconds:6.1f} s (CPU {cpu:5.1f} s, load {os.getloadavg()[0]:.1f})  "
                f"[{stages}]  {document.get('trainings')}",
                flush=True,
            )
    for name, runs in walls.items():
        wall, cpu = [run[0] for run in runs], [run[1] for run in runs]
        print(
            f"{name:<10} median {statistics.median(wall):6.1f} s (range {min(wall):.1f}-{max(wall):.1f}), "
            f"CPU {statistics.median(cpu):.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="real,1,10,100")
    parser.add_argument("--stages", default=",".join(s for s in STAGES if s != "main"))
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (the median is reported)")
    parser.add_argument("--keep", type=Path, help="keep workspaces and databases here")
    parser.add_argument("--incremental", action="store_true", help="the main job's re-runs (see above)")
    args = parser.parse_args()
    if args.incremental:
        root = Path(args.keep or tempfile.mkdtemp(prefix="ivcrush-bench-"))
        root.mkdir(parents=True, exist_ok=True)
        try:
            print_incremental(args.repeat, root)
        finally:
            if args.keep is None:
                shutil.rmtree(root, ignore_errors=True)
        return
    stages = [s for s in args.stages.split(",") if _available(s)]
    root = Path(args.keep or tempfile.mkdtemp(prefix="ivcrush-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, tuple[float, float, int]]] = {}
    try:
        for scale in args.scales.split(","):
            db, as_of = _database(scale, root)
            workdir = root / f"work-{scale}"
            env = {**os.environ, "IVCRUSH_DB": str(db), "IVCRUSH_HOME": str(workdir)}
            results[scale] = {}
            for stage in stages:
                command = [part.format(as_of=as_of, workdir=workdir) for part in STAGES[stage]]
                runs = []
                for _ in range(args.repeat):
                    if stage == "main":  # a fresh workspace each time, as on a new machine
                        shutil.rmtree(workdir / "main", ignore_errors=True)
                        env_run = {**env, "IVCRUSH_HOME": str(workdir / "main")}
                    else:
                        env_run = env
                    runs.append(run_stage(command, env_run))
                seconds = statistics.median(r[0] for r in runs)
                mib = statistics.median(r[1] for r in runs)
                code = max(r[2] for r in runs)
                results[scale][stage] = (seconds, mib, code)
                walls = [r[0] for r in runs]
                spread = f" (range {min(walls):.1f}-{max(walls):.1f})" if len(runs) > 1 else ""
                print(f"# {scale:>4} {stage:<12} {seconds:8.1f} s{spread} {mib:8.0f} MiB exit {code}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    scales = list(results)
    print(f"\n{'stage':<12}" + "".join(f"{s + ' s':>10}{s + ' MiB':>10}" for s in scales), end="")
    numeric = [s for s in scales if s != "real"]
    print("".join(f"{f'x{b}/x{a}':>10}" for a, b in itertools.pairwise(numeric)))
    for stage in stages:
        line = f"{stage:<12}" + "".join(f"{results[s][stage][0]:10.1f}{results[s][stage][1]:10.0f}" for s in scales)
        ratios = "".join(f"{results[b][stage][0] / results[a][stage][0]:10.1f}" for a, b in itertools.pairwise(numeric))
        failed = [s for s in scales if results[s][stage][2] != 0]
        print(line + ratios + (f"   FAILED at {','.join(failed)}" if failed else ""))
    print("\nratios: wall time of a scale over the previous one (10x more data each): ~10 is linear.")


if __name__ == "__main__":
    main()

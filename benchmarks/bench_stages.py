"""Wall time and peak memory of every pipeline stage, on the real snapshot and on sample databases of
1x, 10x and 100x its events, with the growth ratio per 10x of data.

    python -m benchmarks.bench_stages [--scales real,1,10,100] [--stages build,validate,...] [--keep DIR]

Each stage runs as its own `ivcrush` process (as a user would run it), so its figures include imports;
peak memory is the process's maximum resident set size. Sample databases are generated once per scale
(the generation time is printed, not counted).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cli.settings import SHARED_SNAPSHOT

REAL_EVENTS = 4_508
MOVES_PER_TICKER = 12.35  # what the sample generator writes per ticker over 6 years (measured)
STAGES = {
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


def run_stage(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one ivcrush process."""
    started = time.perf_counter()
    process = subprocess.Popen([_ivcrush(), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def _database(scale: str, folder: Path) -> tuple[Path, str]:
    if scale == "real":
        return SHARED_SNAPSHOT, "2025-12-09"
    from cli.sample_db import write_sample_db

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="real,1,10,100")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--keep", type=Path, help="keep workspaces and databases here")
    args = parser.parse_args()
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
                results[scale][stage] = run_stage(command, env)
                seconds, mib, code = results[scale][stage]
                print(f"# {scale:>4} {stage:<12} {seconds:8.1f} s {mib:8.0f} MiB exit {code}", flush=True)
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

"""Fault injection: concurrent writers, a Redis that never answers, disk full, and signals at seeded random
points of build, materialize, train and write-back. After each fault the user's bytes are unchanged, the
previous publication is served, no process is left behind and no half-made folder counts."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd
import psutil
import pytest

import ivcrush.feature_repo.store
from ivcrush.feature_repo.materialize import materialize
from ivcrush.feature_repo.store import OnlineStoreError, recorded_redis_url
from ivcrush.serving.online import online_features_on
from ivcrush.settings import Settings
from ivcrush.source.reader import read_source
from ivcrush.source.sample import write_sample_db
from ivcrush.training.registry import list_models
from ivcrush.training.release import train_and_register
from ivcrush.workspace import (
    BUILD_MANIFEST,
    BUILDS_KEPT,
    GENERATION_MANIFEST,
    MARTS,
    current_build,
    mart_path,
    published,
    write_pointer,
)
from tests.conftest import file_digest
from tests.redis_server import redis_server

SEED = 16
TAG = "IVCRUSH_FAULT_TAG"  # every process a faulted command starts inherits it: none may outlive the command
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
# command -> (signals to deliver while it runs, latest signal time in s): each point is drawn uniformly up to
# that time; a command that ended before its signal is drawn again (at most MAX_DRAWS times its quota), with the
# latest time lowered to within its measured run time (a faster machine runs the commands in less)
FAULT_PLAN = {"build": (6, 12.0), "materialize": (5, 2.3), "train": (4, 8.0), "write-back": (6, 2.0)}
MAX_DRAWS = 3
EARLIEST_SIGNAL_S = 0.3
READS = 200
WRITER = """
import sqlite3, sys, time
db, mode = sys.argv[1], sys.argv[2]
value = 0
while True:
    value += 1
    con = sqlite3.connect(db, timeout=30, isolation_level=None)  # a fresh connection per transaction
    con.execute("PRAGMA cache_size=1")  # pages spill into the file before the commit (rollback journal)
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE historical_moves SET volume_before = ?", (value,))
    con.execute("UPDATE earnings_calendar SET confirmed = ?", (value,))
    con.execute("COMMIT")
    con.close()
    if value == 1:
        print("writing", flush=True)
    time.sleep(0.002)
"""


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_reads_under_a_busy_writer_are_consistent(journal_mode: str, tmp_path: Path) -> None:
    """Hundreds of reads while another process rewrites two tables in each transaction: every read sees one
    transaction's state in both tables, and nothing is left beside the database by the reads."""
    db = tmp_path / "user" / "ivcrush.db"
    db.parent.mkdir()
    write_sample_db(db, tickers=4, years=3, seed=5)
    with sqlite3.connect(db, isolation_level=None) as con:
        con.execute(f"PRAGMA journal_mode={journal_mode}")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), journal_mode], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        seen, inconsistent = set(), []
        started = time.monotonic()
        for _ in range(READS):
            tables = read_source(db).tables
            values = set(tables["historical_moves"]["volume_before"]) | set(tables["earnings_calendar"]["confirmed"])
            if len(values) != 1:
                inconsistent.append(sorted(values)[:5])
            seen |= values
        elapsed = time.monotonic() - started
    finally:
        writer.kill()
        writer.wait()
    assert inconsistent == [], f"{len(inconsistent)} of {READS} reads mixed transactions, e.g. {inconsistent[:3]}"
    assert len(seen) > READS // 4, f"the writer committed too rarely to test anything ({len(seen)} values seen)"
    print(f"{journal_mode}: {READS} consistent reads of {len(seen)} distinct commits in {elapsed:.1f} s")


# --- a published workspace to fault -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(built_sample: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, date]:
    """A private copy of the sample database and of its built workspace, materialized on its busiest scan
    day and trained (quickly: the verdicts are not what is tested here)."""
    folder = tmp_path_factory.mktemp("faults")
    assert built_sample.db is not None
    db = folder / "user" / "ivcrush.db"
    db.parent.mkdir()
    shutil.copy2(built_sample.db, db)
    settings = replace(built_sample, workdir=folder / "work", db=db)
    shutil.copytree(built_sample.workdir, settings.workdir, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as con:
        day = date.fromisoformat(
            con.execute("SELECT earnings_date FROM iv_log GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
        )
    materialize(settings, day)
    train_and_register(settings, evaluation={}, num_boost_round=30)
    return settings, day


def _copy(settings: Settings, target: Path) -> Settings:
    shutil.copytree(settings.workdir, target, symlinks=True)
    return replace(settings, workdir=target)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ivcrush.cli", *args]


def _tagged(tag: str) -> list[psutil.Process]:
    """The live (not zombie) processes started under `tag`."""
    found = []
    for process in psutil.process_iter(["environ", "status"]):
        environ = process.info.get("environ") or {}
        if environ.get(TAG) == tag and process.info.get("status") != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def _left_behind(tag: str, wait_s: float = 10.0) -> list[str]:
    """The processes of `tag` still alive after `wait_s` (killed then, so that none leaks from the tests)."""
    deadline = time.monotonic() + wait_s
    while (alive := _tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    names = [f"{p.pid} {p.name()}" for p in alive]
    for process in alive:
        process.kill()
    return names


@dataclass
class Outcome:
    delivered: bool  # the signal reached a running command
    returncode: int
    stderr: str
    left_behind: list[str]
    elapsed: float  # seconds from start to the end of the command


def _interrupt(args: list[str], delay: float, sig: signal.Signals, timeout: float = 120.0) -> Outcome:
    """Run a CLI command, send `sig` to its main process after `delay` seconds, wait for it and its workers."""
    tag = uuid.uuid4().hex
    started = time.monotonic()
    process = subprocess.Popen(
        _cli(*args), env={**os.environ, TAG: tag}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        process.wait(delay)
        delivered = False
    except subprocess.TimeoutExpired:
        process.send_signal(sig)
        delivered = True
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"{args[0]} did not end within {timeout:.0f} s of {sig.name}") from None
    elapsed = time.monotonic() - started
    return Outcome(delivered, process.returncode, stderr, _left_behind(tag), elapsed)


@dataclass(frozen=True)
class Published:
    build_id: str
    generation_id: str
    fingerprint: str
    digest: str
    listing: tuple[str, ...]
    iv_log: pd.DataFrame


def _iv_log(db: Path) -> pd.DataFrame:
    """iv_log as SQLite recovers it (a private copy with any WAL beside it)."""
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"ivcrush-faults-{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                shutil.copyfile(f"{db}{suffix}", folder / f"copy.db{suffix}")
        with sqlite3.connect(folder / "copy.db") as con:
            return pd.read_sql_query("SELECT * FROM iv_log ORDER BY id", con)
    finally:
        shutil.rmtree(folder)


def _state(settings: Settings) -> Published:
    assert settings.db is not None
    build = current_build(settings)
    assert build is not None
    return Published(
        build_id=build.build_id,
        generation_id=published(settings).generation_id,
        fingerprint=read_source(settings.db).fingerprint,
        digest=file_digest(settings.db),
        listing=tuple(sorted(p.name for p in settings.db.parent.iterdir())),
        iv_log=_iv_log(settings.db),
    )


def _assert_invariants(settings: Settings, before: Published, kind: str, day: date, what: str) -> None:
    """The user's data unchanged (but for a write-back's own columns), a complete publication served, at most
    the one half-made folder of the faulted run itself."""
    assert settings.db is not None
    assert read_source(settings.db).fingerprint == before.fingerprint, what
    listing = tuple(sorted(p.name for p in settings.db.parent.iterdir()))
    if kind == "write-back":  # SQLite's own crash state of an interrupted transaction may remain beside it
        assert set(listing) <= {settings.db.name, f"{settings.db.name}-wal", f"{settings.db.name}-shm"}, what
        old, new = before.iv_log, _iv_log(settings.db)
        ml = ["ml_predicted_move_pct", "ml_confidence"]
        pd.testing.assert_frame_equal(old.drop(columns=ml), new.drop(columns=ml))
        changed = (old[ml].astype(float).fillna(-1) != new[ml].astype(float).fillna(-1)).any(axis=1)
        assert set(new.loc[changed, "earnings_date"]) <= {day.isoformat()}, what
    else:
        assert file_digest(settings.db) == before.digest and listing == before.listing, what
    build = current_build(settings)
    assert build is not None and build.build_id >= before.build_id, what
    assert all(mart_path(Path(build.build_dir), mart).is_file() for mart in MARTS), what
    generation = published(settings)
    assert generation.generation_id >= before.generation_id, what
    assert (generation.path(settings.feast_dir) / GENERATION_MANIFEST).is_file(), what
    assert (Path(generation.build_dir) / BUILD_MANIFEST).is_file(), what
    half_made = [p.name for p in settings.builds_dir.iterdir() if p.is_dir() and not (p / BUILD_MANIFEST).exists()]
    assert len(half_made) <= 1, (what, half_made)  # the last killed build's, until the next build sweeps it
    generations = settings.feast_dir / "generations"
    half_made = [p.name for p in generations.iterdir() if not (p / GENERATION_MANIFEST).exists()]
    assert len(half_made) <= 1, (what, half_made)
    assert list_models(settings.workdir), what


def _command(kind: str, settings: Settings, day: date) -> list[str]:
    work, db = str(settings.workdir), str(settings.db)
    return {
        "build": ["build", "--db", db, "--workdir", work],
        "materialize": ["materialize", "--workdir", work, "--as-of", day.isoformat()],
        "train": ["train", "--workdir", work],
        "write-back": ["scan", day.isoformat(), "--write-back", "--db", db, "--workdir", work, "--json"],
    }[kind]


def test_signals_at_random_points_leave_everything_as_it_was(workspace: tuple[Settings, date], tmp_path: Path) -> None:
    settings, day = workspace
    settings = _copy(settings, tmp_path / "work")
    rng = random.Random(SEED)
    counts: dict[str, int] = {}
    started = time.monotonic()
    for kind, (quota, latest) in FAULT_PLAN.items():
        counts[kind] = 0
        for draw in range(quota * MAX_DRAWS):
            if counts[kind] == quota:
                break
            if kind == "write-back" and published(settings).build_id != current_build(settings).build_id:  # type: ignore[union-attr]
                materialize(settings, day)  # a faulted build may have published: serve its build
            sig, delay = rng.choice(SIGNALS), round(rng.uniform(EARLIEST_SIGNAL_S, latest), 2)
            what = f"{kind} #{draw}: {sig.name} after {delay} s"
            before = _state(settings)
            outcome = _interrupt(_command(kind, settings, day), delay, sig)
            assert outcome.left_behind == [], (what, outcome.left_behind)
            if outcome.returncode not in (0, 1, 2, 130, 143, -signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT):
                raise AssertionError((what, outcome.returncode, outcome.stderr[-2000:]))
            tracebacks = outcome.stderr.count("Traceback (most recent call last)")
            # Ctrl-C during the imports: Python's KeyboardInterrupt, or pybind11's ImportError around it where it
            # lands in a compiled module's initialisation (matplotlib's)
            last_line = outcome.stderr.rstrip().rsplit("\n", 1)[-1]
            interrupted_at_start = sig == signal.SIGINT and last_line in (
                "KeyboardInterrupt",
                "ImportError: initialization failed",
            )
            assert tracebacks == 0 or (tracebacks == 1 and interrupted_at_start), (what, outcome.stderr[-3000:])
            _assert_invariants(settings, before, kind, day, what)
            counts[kind] += outcome.delivered
            if not outcome.delivered:
                latest = max(EARLIEST_SIGNAL_S + 0.05, min(latest, 0.8 * outcome.elapsed))
    total = sum(counts.values())
    print(f"faults injected: {total} {counts} in {time.monotonic() - started:.0f} s")
    assert total >= 20, counts


# --- sweeping and retention -----------------------------------------------------------------------------------


def test_half_made_builds_are_swept_and_retention_keeps_the_served_build(
    workspace: tuple[Settings, date], tmp_path: Path
) -> None:
    from ivcrush.workspace import prune_builds, sweep

    settings, _ = workspace
    settings = _copy(settings, tmp_path / "work")
    served = Path(published(settings).build_dir)
    source = settings.current_build.resolve()
    for stamp in ("20990101T000000000000Z-a", "20990102T000000000000Z-b", "20990103T000000000000Z-c"):
        shutil.copytree(source, settings.builds_dir / stamp)  # complete builds newer than the served one
        manifest = json.loads((settings.builds_dir / stamp / BUILD_MANIFEST).read_text())
        (settings.builds_dir / stamp / BUILD_MANIFEST).write_text(json.dumps({**manifest, "build_id": stamp}))
    for stamp in ("20990104T000000000000Z-x", "20990105T000000000000Z-y"):
        (settings.builds_dir / stamp / "marts").mkdir(parents=True)  # killed builds: no manifest
    sweep(settings.builds_dir, BUILD_MANIFEST)
    prune_builds(settings)
    left = sorted(p.name for p in settings.builds_dir.iterdir())
    assert not any(name.endswith(("-x", "-y")) for name in left)
    assert served.is_dir() and source.is_dir(), "the published generation's build and the current one stay"
    assert len(left) <= BUILDS_KEPT + 2


# --- Redis ---------------------------------------------------------------------------------------------------


@contextmanager
def _silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"127.0.0.1:{server.getsockname()[1]}"


def _refused_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"  # closed again: nothing listens there


@pytest.mark.parametrize("server", ["silent", "refused"])
def test_materialize_into_a_redis_that_does_not_answer_fails_clearly(
    server: str, workspace: tuple[Settings, date], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, day = workspace
    settings = _copy(settings, tmp_path / "work")
    before = published(settings)
    monkeypatch.setattr(ivcrush.feature_repo.store, "REDIS_TIMEOUT_S", 1)
    monkeypatch.setattr(ivcrush.feature_repo.store, "REDIS_CONNECT_TIMEOUT_S", 1)
    with _silent_server() if server == "silent" else _nothing(_refused_port()) as url:
        started = time.monotonic()
        with pytest.raises(OnlineStoreError, match=f"Redis online store at {url}"):
            materialize(replace(settings, online_store="redis", redis_url=url), day)
        assert time.monotonic() - started < 30
    assert published(settings) == before
    assert [p.name for p in (settings.feast_dir / "generations").iterdir()] == [before.generation_id]


@contextmanager
def _nothing(value: str) -> Iterator[str]:
    yield value


def test_serving_a_generation_on_a_silent_redis_ends_in_a_clear_error(
    workspace: tuple[Settings, date], tmp_path: Path
) -> None:
    """The generation says where its rows are; serving goes there (not to the shell's default) and gives up
    after its timeouts with a message, exit code 2 and no traceback."""
    settings, day = workspace
    settings = _copy(settings, tmp_path / "work")
    with _silent_server() as url:
        write_pointer(settings.feast_dir, replace(published(settings), online_store="redis", online_store_url=url))
        tag = uuid.uuid4().hex
        started = time.monotonic()
        done = subprocess.run(
            _cli("online-features", day.isoformat(), "--workdir", str(settings.workdir)),
            env={**os.environ, TAG: tag},
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert f"Redis online store at {url}" in done.stderr and "Traceback" not in done.stderr
    assert elapsed < 60
    assert _left_behind(tag) == []


def test_serving_reads_the_redis_the_generation_recorded(workspace: tuple[Settings, date], tmp_path: Path) -> None:
    settings, day = workspace
    settings = _copy(settings, tmp_path / "work")
    expected = online_features_on(settings, day)
    with redis_server() as url:
        generation = materialize(replace(settings, online_store="redis", redis_url=url), day)
        assert generation.online_store == "redis" and generation.online_store_url == url
        elsewhere = replace(settings, online_store="sqlite", redis_url="127.0.0.1:1")  # a shell without the URL
        served = online_features_on(elsewhere, day)
    columns = [c for c in expected.columns if c not in {"event_timestamp"}]
    pd.testing.assert_frame_equal(
        served[columns].sort_values("ticker").reset_index(drop=True),
        expected[columns].sort_values("ticker").reset_index(drop=True),
        check_dtype=False,
    )
    assert recorded_redis_url(f"{url},password=secret,db=1") == f"{url},db=1", "no secret in the workspace"


# --- disk full -----------------------------------------------------------------------------------------------


def _private_mounts_allowed() -> str | None:
    """None where `unshare -m` can mount a tmpfs here, else the reason it cannot."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True, text=True
    )
    return None if probe.returncode == 0 else f"no private mount namespace here: {probe.stderr.strip()}"


def test_a_full_disk_during_a_build_ends_clearly_and_keeps_the_previous_build(
    workspace: tuple[Settings, date], tmp_path: Path
) -> None:
    reason = _private_mounts_allowed()
    if reason:
        pytest.skip(reason)
    settings, _ = workspace
    work = tmp_path / "work"
    work.mkdir()
    assert settings.db is not None
    digest = file_digest(settings.db)
    # a tmpfs with room for a copy of the workspace and a little more, mounted on `work` in a private namespace
    used = sum(p.stat().st_size for p in settings.workdir.rglob("*") if p.is_file() and not p.is_symlink())
    size_kb = used // 1024 + 2048
    tag = uuid.uuid4().hex
    script = (
        f'mount -t tmpfs -o size={size_kb}k tmpfs "$1" && cp -a "$2/." "$1" && '
        f'"$3" -m ivcrush.cli build --db "$4" --workdir "$1"; echo "rc=$?"; readlink "$1/current"; '
        'ls "$1/builds"'
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(work), str(settings.workdir), sys.executable, str(settings.db)],
        env={**os.environ, TAG: tag},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stdout.strip().splitlines()
    assert "rc=2" in lines, (done.stdout[-2000:], done.stderr[-3000:])
    assert "space" in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    after = lines[lines.index("rc=2") + 1 :]
    assert after[0] == os.readlink(settings.current_build), "the previous build stays current"
    assert sorted(after[1:]) == sorted(p.name for p in settings.builds_dir.iterdir()), "nothing half-made stays"
    assert file_digest(settings.db) == digest
    assert _left_behind(tag) == []

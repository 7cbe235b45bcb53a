"""The main job loads the online store in a forked process while it evaluates: the rows it publishes are the
sequential materialize's; a loading that fails, is killed or is interrupted leaves the previous generation
published, registers no model, drops the half-made generation and leaves no process behind."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
from typer.testing import CliRunner

import ivcrush.feature_repo.online_load
import ivcrush.training.evaluate
from ivcrush.cli.app import app
from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.materialize import Materializing, materialize
from ivcrush.feature_repo.online_load import LOADING_REGISTRY
from ivcrush.serving.online import online_features_on
from ivcrush.settings import Settings
from ivcrush.training.registry import list_models
from ivcrush.workers import WorkerError
from ivcrush.workspace import Generation, published, read_pointer
from tests.redis_server import redis_server

EARLIER_DAY = date(2023, 6, 30)
WAIT_S = 120.0


@pytest.fixture
def workspace(built_sample: Settings, tmp_path: Path) -> Settings:
    """A private copy of the built sample workspace with a generation published as of an earlier day."""
    settings = replace(built_sample, workdir=tmp_path / "work")
    shutil.copytree(built_sample.workdir, settings.workdir, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    materialize(settings, EARLIER_DAY)
    return settings


def _online_rows(settings: Settings, generation: Generation) -> dict[str, list[tuple[Any, ...]]]:
    """Every online row of the generation (its keys, features, values and event times; not when written)."""
    folder = generation.path(settings.feast_dir)
    layout = generation.online_layout
    rows = {}
    with sqlite3.connect(folder / layout["online_store_file"]) as con:
        for view, spec in layout["views"].items():
            rows[view] = con.execute(
                f'SELECT entity_key, feature_name, value, event_ts FROM "{spec["table"]}" ORDER BY 1, 2'
            ).fetchall()
    return rows


def test_the_forked_loading_publishes_the_rows_of_the_sequential_one(workspace: Settings) -> None:
    day = date(2024, 5, 1)
    sequential = materialize(workspace, day)
    with Materializing(workspace, day, background=True) as making:
        assert making.generation is not None and read_pointer(workspace.feast_dir) == sequential
        overlapped = making.publish()
    assert published(workspace) == overlapped != sequential
    assert overlapped.online_rows == sequential.online_rows > 0
    assert overlapped.online_layout["views"].keys() == sequential.online_layout["views"].keys()
    rows = _online_rows(workspace, overlapped)
    assert rows == _online_rows(workspace, sequential) and all(rows.values())
    assert not (overlapped.path(workspace.feast_dir) / LOADING_REGISTRY).exists()


def _busiest_day(db: Path) -> date:
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as con:
        found = con.execute("SELECT earnings_date FROM iv_log GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        return date.fromisoformat(found.fetchone()[0])


def test_the_forked_loading_into_redis_serves_what_the_sequential_one_serves(workspace: Settings) -> None:
    assert workspace.db is not None
    day = _busiest_day(workspace.db)
    with redis_server() as url:
        settings = replace(workspace, online_store="redis", redis_url=url)
        materialize(settings, day)
        sequential = online_features_on(settings, day)
        with Materializing(settings, day, background=True) as making:
            overlapped = making.publish()
        assert overlapped.online_store == "redis" and published(settings) == overlapped
        served = online_features_on(settings, day)
    assert len(sequential) > 0
    pd.testing.assert_frame_equal(
        served.sort_values("ticker").reset_index(drop=True), sequential.sort_values("ticker").reset_index(drop=True)
    )


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _loader(marks: Path, then: Callable[[], None]) -> Callable[[Settings, Generation], None]:
    """A loading (in the forked process) that records its pid, then does `then` instead of loading."""

    def load(settings: Settings, generation: Generation) -> None:
        (marks / "loader.pid").write_text(str(os.getpid()))
        then()

    return load


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _only_the_previous_generation(settings: Settings, before: Generation) -> None:
    assert published(settings) == before
    assert [p.name for p in (settings.feast_dir / "generations").iterdir()] == [before.generation_id]


def test_a_loading_that_fails_while_the_evaluation_runs_publishes_nothing_and_registers_no_model(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = published(workspace)
    evaluate = ivcrush.training.evaluate.evaluate

    def evaluating(*args: Any, **kwargs: Any) -> dict[str, Any]:
        (tmp_path / "evaluating").touch()
        return evaluate(*args, **kwargs)

    def disk_full() -> None:
        _wait_for(tmp_path / "evaluating")  # fails while the evaluation runs
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ivcrush.training.evaluate, "evaluate", evaluating)
    monkeypatch.setattr(ivcrush.feature_repo.online_load, "load_online_store", _loader(tmp_path, disk_full))
    assert workspace.db is not None
    result = CliRunner().invoke(app, ["run", "--db", str(workspace.db), "--workdir", str(workspace.workdir)])
    output = " ".join(result.output.split())
    assert result.exit_code == WorkerError.exit_code != 0, output
    assert "loading the online store failed (OSError: [Errno 28] No space left on device)" in output
    assert "the previously published online store (if any) is unchanged" in output
    assert "Traceback" not in output
    _only_the_previous_generation(workspace, before)
    assert list_models(workspace.workdir) == []
    assert _gone(int((tmp_path / "loader.pid").read_text()))


def _stop_by_sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(WAIT_S)


def _stop_by_ctrl_c() -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("stop", [_stop_by_sigterm, _stop_by_ctrl_c], ids=["sigterm", "ctrl-c"])
def test_stopping_the_main_job_while_it_loads_kills_the_loading_and_drops_the_generation(
    stop: Callable[[], None], workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = published(workspace)
    monkeypatch.setattr(
        ivcrush.feature_repo.online_load, "load_online_store", _loader(tmp_path, lambda: time.sleep(WAIT_S))
    )
    with pytest.raises((SystemExit, KeyboardInterrupt)), Materializing(workspace, background=True):
        _wait_for(tmp_path / "loader.pid")
        stop()
    assert _gone(int((tmp_path / "loader.pid").read_text()))
    _only_the_previous_generation(workspace, before)


def test_a_killed_loading_is_a_clear_error_and_drops_the_generation(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = published(workspace)
    killed = _loader(tmp_path, lambda: os.kill(os.getpid(), signal.SIGKILL))
    monkeypatch.setattr(ivcrush.feature_repo.online_load, "load_online_store", killed)
    ended = r"online-store loading process ended without a result \(exit code -9\)"
    with pytest.raises(IvcrushError, match=ended), Materializing(workspace, background=True) as making:
        making.publish()
    _only_the_previous_generation(workspace, before)

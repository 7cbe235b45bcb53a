"""dbt's and Feast's own command lines work on the published build and generation of a workspace.

dbt runs in a copy of dbt_project/ laid out as in a checkout (the workspace `.ivcrush` beside it), so
nothing is written into the checkout; Feast's CLI runs through `ivcrush feast -- ARGS`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from ivcrush.feature_repo.features import FEATURE_FIELDS
from ivcrush.feature_repo.materialize import materialize
from ivcrush.feature_repo.packed import PACKED_VIEW
from ivcrush.settings import Settings
from ivcrush.workspace import published
from tests.conftest import folder_state

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    """This environment without the project's variables: the tools must find the workspace by default."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("IVCRUSH_", "DBT_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return {**env, **extra}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _dbt_project_copy(folder: Path) -> Path:
    project = folder / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "__pycache__"))
    return project


@pytest.fixture(scope="module")
def checkout(built_sample: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout-like folder: dbt_project/ and its default workspace .ivcrush/ (built and materialized)."""
    folder = tmp_path_factory.mktemp("checkout")
    workdir = folder / ".ivcrush"
    shutil.copytree(built_sample.workdir, workdir, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    materialize(replace(built_sample, workdir=workdir), date(2025, 7, 1))
    _dbt_project_copy(folder)
    return folder


def test_dbt_ls_defaults_to_the_workspace_beside_the_project(checkout: Path) -> None:
    result = _run([str(BIN / "dbt"), "ls", "--resource-type", "model"], checkout / "dbt_project", _env())
    models = set(result.stdout.split())
    assert {f"ivcrush.marts.{view}" for view in FEATURE_FIELDS} <= models
    assert "ivcrush.marts.earnings_events" in models
    assert "deprecat" not in (result.stdout + result.stderr).lower()


def test_dbt_docs_generate_reads_the_published_build_of_ivcrush_home(checkout: Path, tmp_path: Path) -> None:
    project = _dbt_project_copy(tmp_path)  # no workspace beside it: IVCRUSH_HOME names it
    _run([str(BIN / "dbt"), "docs", "generate"], project, _env(IVCRUSH_HOME=str(checkout / ".ivcrush")))
    catalog = json.loads((project / "target" / "catalog.json").read_text())
    columns = catalog["nodes"]["model.ivcrush.earnings_events"]["columns"]
    assert {"event_id", "ticker", "event_timestamp"} <= {name.lower() for name in columns}


def test_feast_cli_lists_and_plans_the_published_generation(checkout: Path, tmp_path: Path) -> None:
    workdir = checkout / ".ivcrush"
    generation_dir = published(Settings(workdir=workdir)).path(workdir / "feast")
    before = folder_state(generation_dir)
    repo_before = sorted(path.name for path in (ROOT / "feature_repo").iterdir())
    ivcrush = [str(BIN / "ivcrush"), "feast", "--workdir", str(workdir), "--"]

    listed = _run([*ivcrush, "feature-views", "list"], tmp_path, _env()).stdout
    assert {line.split()[0] for line in listed.splitlines()[1:] if line.strip()} == {*FEATURE_FIELDS, PACKED_VIEW}

    planned = _run([*ivcrush, "plan"], tmp_path, _env()).stdout
    for view in [*FEATURE_FIELDS, PACKED_VIEW]:
        assert f"feature view {view}" in planned
    assert "Deleted" not in planned
    assert "Created feature view" not in planned

    assert folder_state(generation_dir) == before  # plan changed nothing in the published generation
    assert list(tmp_path.iterdir()) == []
    assert sorted(path.name for path in (ROOT / "feature_repo").iterdir()) == repo_before


def test_feast_cli_without_ivcrush_stops_before_writing(tmp_path: Path) -> None:
    """`feast -c feature_repo` alone cannot know the published generation: it fails and creates nothing."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("__pycache__"))
    before = sorted(path.name for path in repo.iterdir())
    result = subprocess.run(
        [str(BIN / "feast"), "-c", str(repo), "plan"], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "IVCRUSH_FEAST_PROJECT" in result.stdout + result.stderr
    assert sorted(path.name for path in repo.iterdir()) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["feature_repo"]

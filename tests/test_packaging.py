"""A non-editable install works from any folder: the wheel carries the dbt project and Feast's configuration.

The wheel is built from a copy of the checkout (nothing is written into the checkout) and installed into a
fresh virtualenv. That venv sees this test environment's libraries through a path in a .pth file (dbt,
Feast, LightGBM are not installed again), but not its editable `ivcrush`: the package comes only from the
wheel. The main job then runs on a small sample database in an empty folder, and Feast's CLI on its result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("dbt_project", "feature_repo", "training", "serving", "cli")
NOT_SOURCE = shutil.ignore_patterns("__pycache__", "target", "logs", ".user.yml", "*.egg-info")


def _clean_env() -> dict[str, str]:
    """This environment without the project's settings: the installed package must find its own files."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("IVCRUSH_", "PYTHON", "DBT_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built without build isolation (no network) from a copy of the checkout."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in SOURCE_FOLDERS:
        shutil.copytree(ROOT / folder, source / folder, ignore=NOT_SOURCE)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("ivcrush-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path line: the libraries of this environment, without running its .pth files (the editable
    # install's import hook among them).
    (Path(purelib) / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv / "bin"


def test_wheel_ships_the_dbt_project_and_feast_configuration(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "ivcrush/dbt_project.yml",
        "ivcrush/profiles.yml",
        "ivcrush/macros/generic_tests.sql",
        "ivcrush/macros/market_close_at.sql",
        "ivcrush/seeds/market_holidays.csv",
        "ivcrush/tests/assert_feature_inputs_known_before_decision_time.sql",
        "ivcrush/feature_repo/feature_store.yaml",
    }
    for path in ROOT.joinpath("dbt_project", "models").rglob("*"):
        if path.suffix in {".sql", ".yml"}:
            expected.add("ivcrush/" + path.relative_to(ROOT / "dbt_project").as_posix())
    for path in ROOT.joinpath("dbt_project", "reports", "templates").glob("*.j2"):
        expected.add("ivcrush/" + path.relative_to(ROOT / "dbt_project").as_posix())
    for folder in SOURCE_FOLDERS:
        for path in ROOT.joinpath(folder).rglob("*.py"):
            package = "ivcrush" if folder == "dbt_project" else f"ivcrush/{folder}"
            expected.add(f"{package}/{path.relative_to(ROOT / folder).as_posix()}")
    assert expected - names == set()
    top_level = {name.split("/")[0] for name in names if not name.startswith("ivcrush-")}
    assert top_level == {"ivcrush"}


def test_installed_package_runs_the_main_job_in_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = _clean_env()

    def run(*args: str) -> str:
        result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    where = run(
        str(installed / "python"),
        "-c",
        "import ivcrush, ivcrush.cli.app, ivcrush.feature_repo.store, ivcrush.settings as s;"
        "print(ivcrush.__file__); print(ivcrush.cli.app.__file__); print(s.DBT_PROJECT_DIR)",
    ).split()
    venv = installed.parent.resolve()
    for path in where:
        assert Path(path).resolve().is_relative_to(venv), f"{path} does not come from the wheel's venv {venv}"

    run(str(installed / "ivcrush"), "sample-db", str(cwd / "sample.db"), "--tickers", "40", "--years", "3")
    output = run(str(installed / "ivcrush"), "run", "--db", str(cwd / "sample.db"), "--workdir", str(cwd / "work"))
    assert "main job done" in output
    listed = run(str(installed / "ivcrush"), "feast", "--workdir", str(cwd / "work"), "--", "feature-views", "list")
    assert "historical_move_features" in listed
    assert sorted(path.name for path in cwd.iterdir()) == ["sample.db", "work"]

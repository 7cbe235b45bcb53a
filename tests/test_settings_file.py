"""Settings from a user config file: --config, else $IVCRUSH_CONFIG, else the user's config folder, else
pyproject; every setting documented (README, --help) and the account's command-line overrides."""

from __future__ import annotations

import logging
import re
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress, TextColumn
from typer.testing import CliRunner

from ivcrush import progress
from ivcrush.cli.app import app
from ivcrush.cli.progress import StageDisplay, log_level
from ivcrush.config_file import SETTINGS
from ivcrush.settings import SettingsError, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A project folder with a pyproject.toml, a user config folder and a config file elsewhere."""
    for name in ("IVCRUSH_CONFIG", "IVCRUSH_HOME", "IVCRUSH_ACCOUNT_EQUITY", "IVCRUSH_ACCOUNT_KELLY_FRACTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.ivcrush]\nworkdir = "from-pyproject"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.toml").write_text('workdir = "from-config"\n[account]\nequity = 100000\n')
    return {"project": project, "user": tmp_path / "xdg" / "ivcrush" / "config.toml", "config": elsewhere / "mine.toml"}


def test_the_config_file_is_chosen_in_order(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    project, config = places["project"], places["config"]
    assert load_settings(project).workdir == project / "from-pyproject"
    places["user"].parent.mkdir(parents=True)
    places["user"].write_text('workdir = "from-user"\n')
    assert load_settings(project).workdir == places["user"].parent / "from-user"  # relative to the file's folder
    monkeypatch.setenv("IVCRUSH_CONFIG", str(config))
    settings = load_settings(project)
    assert settings.workdir == config.parent / "from-config" and settings.account.equity == 100_000
    other = config.with_name("other.toml")
    other.write_text("[account]\nkelly_fraction = 0.5\n")
    assert load_settings(project, config=other).account.kelly_fraction == 0.5  # --config wins
    monkeypatch.setenv("IVCRUSH_HOME", "from-env")
    assert load_settings(project, config=other).workdir == project / "from-env"  # the environment wins over files


def test_a_bad_config_file_is_named(places: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"--config .*missing\.toml: no such config file"):
        load_settings(places["project"], config=tmp_path / "missing.toml")
    places["config"].write_text("[account]\nequity = -1\n")
    with pytest.raises(SettingsError, match=r"mine.toml \[account\] equity: must be a number > 0, not -1"):
        load_settings(places["project"], config=places["config"])
    places["config"].write_text("workdir = [")
    with pytest.raises(SettingsError, match=r"mine\.toml: cannot be read"):
        load_settings(places["project"], config=places["config"])


def test_the_cli_takes_the_config_and_refuses_a_missing_one(places: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(tmp_path / "nope.toml"), "models"])
    assert result.exit_code == 2 and "no such config file" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["--config", str(places["config"]), "models", "--json"])
    assert result.exit_code == 0 and (places["config"].parent / "from-config").is_dir()


def test_account_overrides_are_checked(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", "2025-12-09", "--equity", "-5", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "setting --equity: must be a number > 0, not -5.0" in result.output
    result = runner.invoke(app, ["predict", "CPB", "--kelly", "2", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "setting --kelly: must be a fraction in (0, 1], not 2.0" in result.output
    settings = load_settings(tmp_path).with_overrides(equity=75_000, kelly_fraction=0.1)
    assert (settings.account.equity, settings.account.kelly_fraction) == (75_000, 0.1)


def test_every_setting_is_documented_in_the_readme_and_help() -> None:
    readme = README.read_text()
    help_text = re.sub(r"[\s│]+", "", runner.invoke(app, ["-h"]).output)
    for info in SETTINGS:
        assert f"| `{info.key}` | `{info.variable}` |" in readme, info.key
        if info.variable.startswith("IVCRUSH_"):
            assert info.variable in help_text, info.variable
    for command, variables in (
        ("scan", ["IVCRUSH_DB", "IVCRUSH_HOME", "IVCRUSH_ACCOUNT_EQUITY"]),
        ("build", ["IVCRUSH_DB"]),
    ):
        text = re.sub(r"[\s│]+", "", runner.invoke(app, [command, "-h"]).output)
        for variable in variables:
            assert f"envvar:{variable}" in text, (command, variable)


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in runner.invoke(app, ["-h"]).output


def test_verbosity_maps_to_logging_levels() -> None:
    assert log_level(0, quiet=False) == logging.WARNING
    assert log_level(1, quiet=False) == logging.INFO
    assert log_level(2, quiet=False) == logging.DEBUG
    assert log_level(2, quiet=True) == logging.ERROR


def test_stages_are_shown_with_counts_and_end_when_the_next_begins() -> None:
    sink = StringIO()
    shown = Progress(TextColumn("{task.description} {task.fields[count]}"), console=Console(file=sink, width=100))
    display = StageDisplay(shown)
    with shown, progress.listening(display):
        progress.step("dbt build")
        progress.step("walk-forward evaluation", 1, 3)
        progress.step("walk-forward evaluation", 2, 3)
        assert [task.description for task in shown.tasks] == ["walk-forward evaluation"]  # the one under way
        assert shown.tasks[0].fields["count"] == "2/3"
    display.finish()
    assert not shown.tasks
    lines = [line for line in sink.getvalue().splitlines() if "✓" in line]
    assert [line.split(" s")[0].rsplit(" ", 1)[0] for line in lines] == [
        "✓ dbt build",
        "✓ walk-forward evaluation 2/3",
    ]
    progress.step("nobody listens")  # without a listener: only the log


def test_progress_is_logged_under_verbose(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ivcrush.progress"):
        progress.step("training the models", 2, 5)
    assert "training the models (2/5)" in caplog.text


@pytest.mark.parametrize(
    "variable", [i.variable for i in SETTINGS if i.variable.startswith("IVCRUSH_") and i.key not in ("workdir", "db")]
)
def test_every_listed_variable_is_read(variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "bogus")
    with pytest.raises(SettingsError, match=variable):
        load_settings(tmp_path)


@pytest.mark.parametrize(("tool_output", "level"), [(False, "none"), (True, "info")])
def test_dbt_speaks_only_under_verbose(
    tool_output: bool, level: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dbt.cli.main

    from ivcrush.build_runner import run_dbt
    from ivcrush.settings import Settings

    seen: list[list[str]] = []

    class Runner:
        def __init__(self, callbacks: list[object]) -> None:
            pass

        def invoke(self, args: list[str]) -> object:
            seen.append(args)
            return type("Result", (), {"success": True})()

    monkeypatch.setattr(dbt.cli.main, "dbtRunner", Runner)
    run_dbt(tmp_path, Settings(workdir=tmp_path, tool_output=tool_output), ["build"])
    assert seen[0][seen[0].index("--log-level") + 1] == level


def test_verbose_sets_the_tool_output(tmp_path: Path) -> None:
    """The root options given before a command reach the settings of that command (and only of it)."""
    from ivcrush.cli import options

    for args, expected in ((["-v"], True), ([], False), (["-q"], False)):
        assert runner.invoke(app, [*args, "models", "--workdir", str(tmp_path)]).exit_code == 0
        assert options.settings_for(tmp_path).tool_output is expected


def test_quiet_silences_notices(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from ivcrush.cli import options

    monkeypatch.setattr(options.root_options, "quiet", False)
    options.notice("materialized something")
    assert "materialized something" in capsys.readouterr().err
    monkeypatch.setattr(options.root_options, "quiet", True)
    options.notice("materialized something")
    assert capsys.readouterr().err == ""


def test_a_failed_stage_is_marked_failed() -> None:
    sink = StringIO()
    shown = Progress(TextColumn("{task.description}"), console=Console(file=sink, width=100))
    display = StageDisplay(shown)
    with shown, progress.listening(display):
        progress.step("reading the database")
        display.finish(failed=True)
    assert "✗ reading the database" in sink.getvalue() and "✓" not in sink.getvalue()

"""`ivcrush backtest journal|simulate` through Typer's CliRunner: Rich tables with money as "$1,234", help on every
option, and --json that json.loads reads (numbers as numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ivcrush.workspace
from ivcrush.cli.app import app
from ivcrush.settings import Costs
from ivcrush.training.backtest import journal, simulate
from tests.test_backtest import _journal_inputs

runner = CliRunner()


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The backtest commands on hand-made positions and events (no workspace needed)."""
    positions, events = _journal_inputs(tmp_path / "evaluation")
    replay = journal.journal_backtest(positions, events, costs=Costs(), equity=100_000, roll_days=2, resamples=200)
    simulated = simulate.simulate_backtest(events, costs=Costs())
    monkeypatch.setattr(ivcrush.workspace, "published", lambda settings: None)
    monkeypatch.setattr(journal, "run_journal_backtest", lambda *args, **kwargs: dict(replay))
    monkeypatch.setattr(simulate, "run_simulation", lambda *args, **kwargs: dict(simulated))
    return tmp_path / "work"


@pytest.mark.parametrize("command", ["journal", "simulate"])
def test_json_is_valid_and_numbers_are_numbers(results: Path, command: str) -> None:
    out = runner.invoke(app, ["backtest", command, "--json", "--workdir", str(results)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    parsed = json.loads(out.stdout)
    assert parsed["kind"] == command and Path(parsed["report"]).is_file()
    if command == "journal":
        assert isinstance(parsed["campaigns"][0]["pnl"], float)
        assert isinstance(parsed["returns"]["whole journal"]["total_return_pct"], float)
    else:
        assert isinstance(parsed["break_even"][0]["break_even_k"], float)
        assert isinstance(parsed["break_even_curve"][0]["trades"], int)


def test_tables_write_money_with_the_sign_first(results: Path) -> None:
    out = runner.invoke(app, ["backtest", "journal", "--workdir", str(results)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "take all vs the walk-forward filter" in out.stdout and "$" in out.stdout
    assert not any(word.endswith("$") and word[:-1].replace(",", "").isdigit() for word in out.stdout.split())
    simulated = runner.invoke(app, ["backtest", "simulate", "--workdir", str(results)], catch_exceptions=False)
    assert "Break-even premium ratio" in simulated.stdout and "NO P&L" in simulated.stdout


@pytest.mark.parametrize("command", ["journal", "simulate"])
def test_every_option_has_help_and_journal_has_no_db(command: str) -> None:
    out = runner.invoke(app, ["backtest", command, "-h"], terminal_width=200)
    assert out.exit_code == 0
    for option in ("--from", "--to", "--json", "--evaluation", "--workdir"):
        line = next(line for line in out.stdout.splitlines() if option in line)
        assert len(line.split(option, 1)[1].strip()) > 10, line  # the option is explained
    assert "--db" not in out.stdout and "--k " not in out.stdout

"""Bad input and missing state on the command line: a message naming what to do, exit 2, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

import ivcrush.training.registry
from ivcrush.cli.app import app
from ivcrush.cli.render import print_recommendations
from ivcrush.serving.market import IMPLIED_MOVE_MISSING
from ivcrush.serving.predict import Refusal

runner = CliRunner()


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _plain(text: str) -> str:
    """Output without the help panels' borders and line breaks."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


def _refused(result: Result, *fragments: str) -> None:
    text = _plain(result.output)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in text, text


def test_an_unknown_preset_is_a_usage_error_listing_the_choices(tmp_path: Path) -> None:
    result = _invoke("scan", "2025-12-09", "--preset", "yolo", "--workdir", str(tmp_path))
    _refused(result, "'yolo' is not one of", "'conservative', 'balanced', 'aggressive'")
    assert "<conservative|balanced|" in re.sub(r"[\s│]", "", _invoke("predict", "-h").output)


@pytest.mark.parametrize(
    "command",
    [
        ["predict", "CPB"],
        ["online-features", "2025-12-09"],
        ["evaluate"],
        ["dataset", "--out", "x.parquet"],
    ],
)
def test_an_empty_workspace_names_the_commands_to_run(command: list[str], tmp_path: Path) -> None:
    result = _invoke(*command, "--workdir", str(tmp_path / "w"))
    _refused(result, "has not been published", "run `ivcrush build`, then `ivcrush materialize`")


@pytest.mark.parametrize("command", [["materialize"], ["train"], ["scan", "2025-12-09"], ["events", "2025-12-09"]])
def test_a_workspace_without_a_build_names_build(command: list[str], tmp_path: Path) -> None:
    _refused(_invoke(*command, "--workdir", str(tmp_path / "w")), "run `ivcrush build` first")


def test_write_back_needs_the_database_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVCRUSH_DB", raising=False)
    result = _invoke("scan", "2025-12-09", "--write-back", "--workdir", str(tmp_path / "w"))
    _refused(result, "--write-back writes into 2.0's database: name it with --db PATH", "nothing was scanned")
    assert not (tmp_path / "w").exists()  # refused before anything: not even the workspace was made


def test_json_errors_go_to_stderr_as_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["predict", "CPB", "--json", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["kind"] == "NotPublishedError" and "ivcrush build" in error["error"] and error["exit_code"] == 2


def test_the_backtest_date_range_is_documented() -> None:
    for command in ("journal", "simulate"):
        text = _plain(_invoke("backtest", command, "-h").output)
        assert "--from <%Y-%m-%d> First day (YYYY-MM-DD): positions entered / events on or after it" in text
        assert "--to <%Y-%m-%d> Last day (YYYY-MM-DD): positions entered / events on or before it" in text


def test_models_prints_the_feature_service_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = [
        {
            "model_id": "m1",
            "created_at": "2025-12-01T00:00:00",
            "feature_service": {"name": "earnings_move_v1", "version": 1},
            "training_rows": 10,
            "skill": {"move_size": True},
        }
    ]
    monkeypatch.setattr(ivcrush.training.registry, "list_models", lambda workdir: listed)
    text = _invoke("models", "--workdir", str(tmp_path)).output
    assert "earnings_move_v1 v1" in text and "{" not in text


def test_scan_refusals_say_how_scan_takes_an_implied_move(capsys: pytest.CaptureFixture[str]) -> None:
    hint = "give it in a CSV: --implied-moves FILE"
    print_recommendations([], [Refusal("STZ", IMPLIED_MOVE_MISSING)], "scan", refusal_hint=(IMPLIED_MOVE_MISSING, hint))
    text = _plain(capsys.readouterr().out)
    assert f"not served: STZ: {IMPLIED_MOVE_MISSING}; {hint}" in text
    assert "--implied-move," not in text and "--spot" not in text  # predict's options, not scan's


def test_frames_print_as_tables_with_money_before_the_number(capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    from ivcrush.cli.render import print_frame

    frame = pd.DataFrame({"policy": ["ml", "2.0"], "pnl": [157998.4, None], "win_rate": [0.61, 0.5], "n": [10, 12]})
    print_frame(frame, "journal backtest", {"pnl": "${:,.0f}", "win_rate": "{:.0%}"})
    text = capsys.readouterr().out
    assert "$157,998" in text and "157,998 $" not in text and "61%" in text and "-" in text

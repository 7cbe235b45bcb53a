"""The `ivcrush` command line through Typer's CliRunner: exit codes, messages, nothing half-published."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

import ivcrush.source.sample
from ivcrush import __version__
from ivcrush.cli.app import app
from ivcrush.errors import IvcrushError
from ivcrush.source.reader import SourceDataError
from tests.conftest import file_digest

runner = CliRunner()


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_version_and_help() -> None:
    assert _invoke("--version").output.strip() == f"ivcrush {__version__}"
    result = _invoke("-h")
    assert result.exit_code == 0
    for command in ("sample-db", "build", "validate", "materialize", "dataset", "run"):
        assert command in result.output


def test_sample_db_refuses_an_existing_path(tmp_path: Path) -> None:
    target = tmp_path / "s.db"
    assert _invoke("sample-db", str(target), "--tickers", "5", "--years", "2").exit_code == 0
    digest = file_digest(target)
    result = _invoke("sample-db", str(target))
    assert result.exit_code == 2 and "already exists" in result.output
    assert file_digest(target) == digest


def test_build_of_a_missing_database_fails_clearly(tmp_path: Path) -> None:
    result = _invoke("build", "--db", str(tmp_path / "nope.db"), "--workdir", str(tmp_path / "w"))
    assert result.exit_code == 2
    assert "no such file" in _plain(result.output)
    assert not (tmp_path / "w" / "current").exists()


def test_validate_names_the_table_and_column_of_bad_prices(sample_copy: Path, tmp_path: Path) -> None:
    with sqlite3.connect(sample_copy, isolation_level=None) as con:
        con.execute("UPDATE historical_moves SET prev_close = -1 WHERE id IN (SELECT id FROM historical_moves LIMIT 3)")
    digest = file_digest(sample_copy)
    result = _invoke("validate", "--db", str(sample_copy), "--workdir", str(tmp_path / "w"))
    text = _plain(result.output)
    assert result.exit_code == 1
    assert "historical_moves.prev_close" in text and "prices_positive" in text
    assert file_digest(sample_copy) == digest
    assert list((tmp_path / "w" / "validation").glob("*/result.json"))


def test_build_refuses_bad_data_and_keeps_the_previous_build(sample_copy: Path, tmp_path: Path) -> None:
    workdir = str(tmp_path / "w")
    assert _invoke("build", "--db", str(sample_copy), "--workdir", workdir).exit_code == 0
    published = (tmp_path / "w" / "current").resolve()
    with sqlite3.connect(sample_copy, isolation_level=None) as con:
        con.execute("UPDATE historical_moves SET earnings_high = earnings_low - 1 WHERE id = 1")
    result = _invoke("build", "--db", str(sample_copy), "--workdir", workdir)
    assert result.exit_code == 2
    assert "refusing to publish" in _plain(result.output) and "nothing was published" in _plain(result.output)
    assert (tmp_path / "w" / "current").resolve() == published


def test_main_job_runs_end_to_end(sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVCRUSH_DB", str(sample_db))
    result = _invoke("run", "--workdir", str(tmp_path / "w"))
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    assert "historical_move_features" in text and "feature store generation" in text
    assert (tmp_path / "w" / "feast" / "current.json").is_file()


class _Refused(IvcrushError):
    exit_code = 3


@pytest.mark.parametrize(("error", "code"), [(SourceDataError("tickers: bad [rows]"), 2), (_Refused("no"), 3)])
def test_a_user_facing_error_ends_as_one_line_and_its_exit_code(
    error: IvcrushError, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(ivcrush.source.sample, "write_sample_db", refuse)
    result = _invoke("sample-db", str(tmp_path / "s.db"))
    assert result.exit_code == code
    assert result.stderr.strip() == f"error: {error}"
    assert "Traceback" not in result.output and result.stdout == ""


def test_an_unexpected_exception_is_not_swallowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ivcrush.source.sample, "write_sample_db", crash)
    with pytest.raises(RuntimeError, match="a bug"):
        _invoke("sample-db", str(tmp_path / "s.db"))

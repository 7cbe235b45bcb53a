"""`--json` on every command that prints results: stdout holds exactly one JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ivcrush.training.release
from ivcrush.cli.app import app

runner = CliRunner()


def _json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sample_db_build_materialize_and_dataset_print_json(sample_db: Path, tmp_path: Path) -> None:
    written = _json("sample-db", str(tmp_path / "s.db"), "--tickers", "3", "--years", "1")
    assert written["path"] == str(tmp_path / "s.db") and written["rows"]["earnings_calendar"] > 0
    workdir = str(tmp_path / "w")
    built = _json("build", "--db", str(sample_db), "--workdir", workdir)
    assert built["quality_errors"] == 0 and built["row_counts"]["earnings_events"] > 0
    text = runner.invoke(app, ["build", "--db", str(sample_db), "--workdir", workdir]).output
    assert "data quality of the raw tables:" in text and "data quality of the marts:" in text
    assert "Data Docs: " in text and "summary.html" in text
    published = _json("materialize", "--as-of", "2025-01-02", "--workdir", workdir)
    assert published["build_id"] > built["build_id"] and published["as_of"] == "2025-01-02"  # the newer build
    dataset = _json("dataset", "--out", str(tmp_path / "train.parquet"), "--workdir", workdir)
    assert dataset["rows"] > 0 and "label_trusted" in dataset["columns"]
    assert (tmp_path / "train.parquet").is_file()


def test_train_prints_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ivcrush.training.release, "train_and_register", lambda settings, **_: "model-1")
    trained = _json("train", "--workdir", str(tmp_path))
    assert trained == {"model_id": "model-1", "models_dir": str(tmp_path / "models")}

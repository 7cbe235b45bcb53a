"""The main job redoes only what changed: an unchanged re-run skips every stage (and says so), a changed source
row rebuilds everything after it, `--force` redoes everything; `run --json` prints one document."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivcrush.cli.app import app
from ivcrush.settings import Settings
from ivcrush.training.registry import list_models
from ivcrush.workspace import current_build, read_pointer

runner = CliRunner()
SKIPPED = (
    "build: unchanged since",
    "generation: unchanged since",
    "evaluation and model: unchanged since",
)


def _run(db: Path, workdir: Path, *extra: str) -> str:
    result = runner.invoke(app, ["run", "--db", str(db), "--workdir", str(workdir), *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _published(settings: Settings) -> tuple[str, str, str]:
    build, generation = current_build(settings), read_pointer(settings.feast_dir)
    assert build is not None and generation is not None
    return build.build_id, generation.generation_id, str(list_models(settings.workdir)[-1]["model_id"])


def test_unchanged_reruns_skip_each_stage_a_changed_row_rebuilds_and_force_redoes(
    sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(workdir=tmp_path / "work", db=sample_copy)
    first = _run(sample_copy, settings.workdir)
    assert not any(message in first for message in SKIPPED)
    published = _published(settings)

    again = _run(sample_copy, settings.workdir)
    for message, done in zip(SKIPPED, published, strict=True):
        assert f"{message} {done}" in again, message
    assert _published(settings) == published
    assert "earnings scan" in again or "scan of the next earnings date" in again

    with monkeypatch.context() as patch:  # other training code: the data stages are kept, the model is not
        patch.setattr("ivcrush.training.release.training_code", lambda: "other code")
        recoded = _run(sample_copy, settings.workdir)
    assert SKIPPED[0] in recoded and SKIPPED[1] in recoded and SKIPPED[2] not in recoded

    with sqlite3.connect(sample_copy) as con:  # one source row changes
        con.execute("DELETE FROM iv_log WHERE rowid = (SELECT max(rowid) FROM iv_log)")
    changed = _run(sample_copy, settings.workdir)
    assert not any(message in changed for message in SKIPPED)
    rebuilt = _published(settings)
    assert all(new != old for new, old in zip(rebuilt, published, strict=True))

    forced = runner.invoke(  # --force, and the main job's one JSON document
        app, ["run", "--db", str(sample_copy), "--workdir", str(settings.workdir), "--force", "--json"]
    )
    assert forced.exit_code == 0, forced.output
    assert all(new != old for new, old in zip(_published(settings), rebuilt, strict=True))
    done = json.loads(forced.stdout)
    assert done["generation"]["build_id"] == done["build"]["build_id"] == _published(settings)[0]
    assert done["model_id"] == _published(settings)[2] and done["evaluation"]["summary"]
    assert done["scan_date_is"].startswith("the next")
    assert done["scan"] is None or done["scan"]["date"] == done["scan_date"]

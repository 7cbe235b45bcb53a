"""The main job redoes only what changed: an unchanged re-run skips every stage (and says so), a new earnings
day rebuilds everything after it but reuses the models of unchanged training rows, and gives what `--force`
(everything redone) gives; `run --json` prints one document."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivcrush.cli.app import app
from ivcrush.settings import Settings
from ivcrush.training.evaluations import latest_evaluation
from ivcrush.training.registry import METADATA, list_models
from ivcrush.workspace import current_build, read_pointer

runner = CliRunner()
SKIPPED = (
    "build: unchanged since",
    "generation: unchanged since",
    "evaluation and model: unchanged since",
)
REUSED = re.compile(r"models: (\d) of 4 trainings \(walk-forward folds and the final one\) reused")
REFITS_REUSED = re.compile(r"(\d+) daily calibration re-fits reused")
LATEST_DAY = "(SELECT max(earnings_date) FROM historical_moves)"


def _trainings_reused(output: str) -> int:
    found = REUSED.search(output)
    return int(found.group(1)) if found else 0


def _run(db: Path, workdir: Path, *extra: str) -> str:
    result = runner.invoke(app, ["run", "--db", str(db), "--workdir", str(workdir), *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _published(settings: Settings) -> tuple[str, str, str]:
    build, generation = current_build(settings), read_pointer(settings.feast_dir)
    assert build is not None and generation is not None
    return build.build_id, generation.generation_id, str(list_models(settings.workdir)[-1]["model_id"])


def _model_files(model: dict[str, object]) -> dict[str, object]:
    """What a registered model serves with: its boosters' text and its numbers (not its ids or dates)."""
    folder = Path(str(model["path"]))
    metadata = json.loads((folder / METADATA).read_text())
    boosters = {name: (folder / file).read_text() for name, file in metadata["models"].items()}
    return {"boosters": boosters, **{key: metadata[key] for key in ("move_size", "features", "training_window")}}


def _evaluation_numbers(evaluation: dict[str, object]) -> dict[str, object]:
    folds = evaluation["setup"]["folds"]  # type: ignore[index]
    predictions = (Path(str(evaluation["path"])) / "predictions.csv").read_text()
    kept = ("summary", "verdicts", "trusted", "feature_importance_gain_q50")
    return {"predictions": predictions, "folds": folds, **{key: evaluation[key] for key in kept}}


def test_unchanged_reruns_skip_each_stage_a_new_day_reuses_unchanged_models_and_equals_force(
    sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(sample_copy) as con:  # the database as it was the day before its latest earnings day
        new_day = con.execute(f"SELECT * FROM historical_moves WHERE earnings_date = {LATEST_DAY}").fetchall()
        con.execute(f"DELETE FROM historical_moves WHERE earnings_date = {LATEST_DAY}")
    settings = Settings(workdir=tmp_path / "work", db=sample_copy)
    first = _run(sample_copy, settings.workdir)
    assert not any(message in first for message in SKIPPED) and _trainings_reused(first) == 0
    published = _published(settings)

    again = _run(sample_copy, settings.workdir)
    for message, done in zip(SKIPPED, published, strict=True):
        assert f"{message} {done}" in again, message
    assert _published(settings) == published
    assert "earnings scan" in again or "scan of the next earnings date" in again

    with monkeypatch.context() as patch:  # other training code: the data stages are kept, no model is reused
        patch.setattr("ivcrush.training.release.training_code", lambda: "other code")
        patch.setattr("ivcrush.training.fold_cache.training_code", lambda: "other code")
        recoded = _run(sample_copy, settings.workdir)
    assert SKIPPED[0] in recoded and SKIPPED[1] in recoded and SKIPPED[2] not in recoded
    assert _trainings_reused(recoded) == 0

    with sqlite3.connect(sample_copy) as con:  # the new earnings day's outcomes arrive
        con.executemany(f"INSERT INTO historical_moves VALUES ({', '.join('?' * len(new_day[0]))})", new_day)
    changed = _run(sample_copy, settings.workdir)
    assert not any(message in changed for message in SKIPPED)
    assert _trainings_reused(changed) >= 1  # the folds whose training rows the day did not change
    refits = REFITS_REUSED.search(changed)  # the re-fits before the new day's outcomes were known
    assert refits is not None and int(refits.group(1)) >= 1
    rebuilt = _published(settings)
    assert all(new != old for new, old in zip(rebuilt, published, strict=True))
    incremental = latest_evaluation(settings)
    assert incremental is not None

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
    assert done["trainings"] == {"reused": 0, "trained": 4, "quantile_sets_reused": 0, "refits_reused": 0}
    assert set(done["stage_seconds"]) >= {"build", "materialize", "evaluation", "training", "scan"}

    # what the new day's run reused is what redoing everything gives: the same marts, evaluation and models
    redone = latest_evaluation(settings)
    assert redone is not None and redone["path"] != incremental["path"]
    assert _evaluation_numbers(redone) == _evaluation_numbers(incremental)
    models = list_models(settings.workdir)
    assert _model_files(models[-1]) == _model_files(models[-2])

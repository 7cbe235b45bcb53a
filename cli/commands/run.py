"""The main job: every stage, end to end, on one workspace."""

from __future__ import annotations

import importlib
import time
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from ivcrush.cli.commands.data import ensure_sample
from ivcrush.cli.commands.model import run_train
from ivcrush.cli.commands.serve import run_scan
from ivcrush.cli.options import DbOption, WorkdirOption, console, noting, settings_for
from ivcrush.cli.render import print_build, print_evaluation, print_generation, render_summary

if TYPE_CHECKING:
    from ivcrush.settings import Settings

EVALUATION_FOLDS = 3

LATER_STAGES = (
    "ivcrush.feature_repo.materialize",
    "ivcrush.training.evaluate",
    "ivcrush.training.report",
    "ivcrush.training.release",
    "ivcrush.serving.predict",
)


def _import_later_stages() -> None:
    """Import Feast, LightGBM, matplotlib and the training code (seconds) while the marts are checked."""
    for module in LATER_STAGES:
        importlib.import_module(module)


def _build(settings: Settings, force: bool) -> None:
    """Build (or, unless forced, keep the published build where its inputs are unchanged, and say so)."""
    from ivcrush.build import build
    from ivcrush.workspace import current_build

    previous = current_build(settings)
    with noting("nothing was published; the previous build (if any) stays current"):
        result = build(
            settings,
            on_quality=lambda report: render_summary(report, console),
            meanwhile=_import_later_stages,
            reuse=not force,
        )
    if previous is not None and result.build_id == previous.build_id:
        console.print(f"build: unchanged since {result.build_id}, skipped (validation too)", highlight=False)
    else:
        print_build(result)


def _materialize(settings: Settings, as_of: date | None, force: bool) -> None:
    """Publish a generation (or, unless forced, keep the published one where it holds the same, and say so)."""
    from ivcrush.feature_repo.materialize import materialize
    from ivcrush.workspace import read_pointer

    previous = read_pointer(settings.feast_dir)
    started = time.perf_counter()
    with noting("the previously published online store (if any) is unchanged"):
        generation = materialize(settings, as_of, reuse=not force)
    if previous is not None and generation.generation_id == previous.generation_id:
        console.print(f"generation: unchanged since {generation.generation_id}, skipped", highlight=False)
    else:
        print_generation(generation, time.perf_counter() - started)


def run(
    db: DbOption = None,
    workdir: WorkdirOption = None,
    force: Annotated[bool, typer.Option("--force", help="Redo every stage, even with unchanged inputs.")] = False,
) -> None:
    """The main job, end to end: (sample database,) build and validate the feature tables, publish them to
    the feature store, evaluate walk-forward against 2.0, train and register, scan the next earnings date.
    A stage whose inputs are unchanged since its last run is skipped (and says so), unless --force."""
    from ivcrush.workspace import current_build, next_earnings_date, published

    started = time.perf_counter()
    settings = settings_for(workdir, db)
    ensure_sample(settings)
    _build(settings, force)
    next_date = next_earnings_date(current_build(settings))
    _materialize(settings, next_date, force)
    console.rule("walk-forward evaluation")
    generation = published(settings)  # resolved once: every later stage works on this generation
    from ivcrush.training.release import reusable_evaluation, reusable_model

    evaluation = None if force else reusable_evaluation(settings, generation.build_id, EVALUATION_FOLDS)
    model_id = None if evaluation is None else reusable_model(settings, generation, evaluation)
    if evaluation is not None and model_id is not None:
        print_evaluation(evaluation)
        console.print(
            f"evaluation and model: unchanged since {model_id} (training set of build {generation.build_id}), skipped",
            highlight=False,
        )
    else:
        from ivcrush.training.data import training_set
        from ivcrush.training.evaluate import evaluate

        dataset = training_set(settings, generation=generation)  # retrieved once for the evaluation and training
        if evaluation is None:
            evaluation = evaluate(settings, folds=EVALUATION_FOLDS, dataset=dataset, generation=generation)
        else:
            console.print(f"evaluation: unchanged since {evaluation.get('path')}, skipped", highlight=False)
        print_evaluation(evaluation)
        run_train(settings, evaluation, dataset, generation)
        del dataset  # free it before the scan: large at scale
    if next_date is not None:
        console.rule(f"scan of the next earnings date {next_date}")
        run_scan(settings, next_date, None, "balanced", write_back=False, as_json=False)
    console.print(f"main job done in {time.perf_counter() - started:.1f} s", highlight=False)

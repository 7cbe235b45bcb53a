"""The main job: every stage, end to end, on one workspace."""

from __future__ import annotations

import importlib
import time

from ivcrush.cli.commands.data import ensure_sample, run_build, run_materialize
from ivcrush.cli.commands.model import run_train
from ivcrush.cli.commands.serve import run_scan
from ivcrush.cli.options import DbOption, WorkdirOption, console, settings_for
from ivcrush.cli.render import print_evaluation

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


def run(db: DbOption = None, workdir: WorkdirOption = None) -> None:
    """The main job, end to end: (sample database,) build and validate the feature tables, publish them to
    the feature store, evaluate walk-forward against 2.0, train and register, scan the next earnings date with
    2.0 implied moves (else the next calendar date)."""
    from ivcrush.events import next_scan_date
    from ivcrush.workspace import current_build, published

    started = time.perf_counter()
    settings = settings_for(workdir, db)
    ensure_sample(settings)
    run_build(settings, meanwhile=_import_later_stages)
    from ivcrush.training.data import training_set  # imported meanwhile: after the build, at no cost
    from ivcrush.training.evaluate import evaluate

    build = current_build(settings)
    next_date, which = next_scan_date(build) if build else (None, "nothing was built")
    run_materialize(settings, next_date)
    console.rule("walk-forward evaluation")
    generation = published(settings)  # resolved once: every later stage works on this generation
    dataset = training_set(settings, generation=generation)  # retrieved once for the evaluation and the training
    evaluation = evaluate(settings, folds=3, dataset=dataset, generation=generation)
    print_evaluation(evaluation)
    run_train(settings, evaluation, dataset, generation)
    del dataset  # free it before the scan: large at scale
    if next_date is None:
        console.print(f"no scan: {which}", highlight=False)
    else:
        console.rule(f"scan of {next_date}: {which}")
        run_scan(settings, next_date, None, "balanced", write_back=False, as_json=False)
    console.print(f"main job done in {time.perf_counter() - started:.1f} s", highlight=False)

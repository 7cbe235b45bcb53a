"""The main job: every stage, end to end, on one workspace; a stage whose inputs are unchanged is skipped."""

from __future__ import annotations

import importlib
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ivcrush.cli.commands.data import ensure_sample, run_build, show_published
from ivcrush.cli.commands.model import run_train
from ivcrush.cli.commands.serve import run_scan
from ivcrush.cli.options import DbOption, JsonOption, WorkdirOption, console, settings_for
from ivcrush.cli.render import print_evaluation, print_json

if TYPE_CHECKING:
    from ivcrush.feature_repo.materialize import Materializing
    from ivcrush.settings import Settings
    from ivcrush.workspace import Generation

EVALUATION_FOLDS = 3
LATER_STAGES = (
    "ivcrush.feature_repo.materialize",
    "feast.infra.offline_stores.duckdb",  # (ibis) imported by the first Feast store opened: ~0.7 s
    "ivcrush.training.evaluate",
    "ivcrush.training.report",
    "ivcrush.training.release",
    "ivcrush.serving.predict",
    "ivcrush.serving.run_index",
)


class _Laps:
    """Seconds of each stage of the main job, in order (the JSON document's `stage_seconds`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 2)
        self._last = now


def _reuse_note(trainings: dict[str, int]) -> str:
    done = trainings["reused"] + trainings["trained"]
    return (
        f"models: {trainings['reused']} of {done} trainings (walk-forward folds and the final one) reused, and "
        f"{trainings['quantile_sets_reused']} sets of quantile boosters of the others' calibration slices: trained "
        f"on the same rows and options before; {trainings['refits_reused']} daily calibration re-fits reused"
    )


def _import_later_stages() -> None:
    """Import Feast, LightGBM, matplotlib and the training code (seconds) in a thread of the build, while its
    dbt and data-quality processes work."""
    for module in LATER_STAGES:
        importlib.import_module(module)


def _evaluate_and_train(
    settings: Settings, making: Materializing, laps: _Laps, force: bool, show: bool
) -> tuple[Generation, dict[str, Any], str, dict[str, int]]:
    """Evaluate walk-forward and train on the generation in the making (reused where unchanged), publishing it
    before the model is registered: (published generation, evaluation, model_id, trainings reused and done)."""
    from ivcrush.training.release import reusable_evaluation, reusable_model

    assert making.generation is not None
    if show:
        console.rule("walk-forward evaluation")
    trainings = {"reused": 0, "trained": 0, "quantile_sets_reused": 0, "refits_reused": 0}  # by the model cache
    build_id = making.generation.build_id
    evaluation = None if force else reusable_evaluation(settings, build_id, EVALUATION_FOLDS)
    model_id = None if evaluation is None else reusable_model(settings, making.generation, evaluation)
    if evaluation is not None and model_id is not None:
        generation = show_published(making, show=show)
        laps.lap("online_store")
        if show:
            print_evaluation(evaluation)
            console.print(
                f"evaluation and model: unchanged since {model_id} (training set of build {build_id}), skipped",
                highlight=False,
            )
        return generation, evaluation, model_id, trainings
    from ivcrush.training.data import training_set
    from ivcrush.training.evaluate import evaluate
    from ivcrush.training.fold_cache import WORKERS, ModelCache, cache_folder
    from ivcrush.training.release import prefetch_release_training

    dataset = training_set(settings, generation=making.generation)  # once for the evaluation and training
    laps.lap("training_set")
    with ModelCache(cache_folder(settings.workdir), reuse=not force, workers=WORKERS) as models_cache:
        if evaluation is None:
            evaluation = evaluate(
                settings,
                folds=EVALUATION_FOLDS,
                dataset=dataset,
                generation=making.generation,
                models_cache=models_cache,
                meanwhile=lambda: prefetch_release_training(models_cache, dataset),
            )
        elif show:
            console.print(f"evaluation: unchanged since {evaluation.get('path')}, skipped", highlight=False)
        laps.lap("evaluation")
        if show:
            print_evaluation(evaluation)
        generation = show_published(making, show=show)  # no model is registered against an unpublished one
        laps.lap("online_store")
        model_id = run_train(settings, evaluation, dataset, generation, show=show, models_cache=models_cache)
    laps.lap("training")
    trainings = {
        "reused": models_cache.reused,
        "trained": models_cache.trained,
        "quantile_sets_reused": models_cache.quantile_sets_reused,
        "refits_reused": models_cache.refits_reused,
    }
    if show and (models_cache.reused or models_cache.quantile_sets_reused or models_cache.refits_reused):
        console.print(_reuse_note(trainings), highlight=False)
    return generation, evaluation, model_id, trainings


def run(
    db: DbOption = None,
    workdir: WorkdirOption = None,
    force: Annotated[bool, typer.Option("--force", help="Redo every stage, even with unchanged inputs.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The main job, end to end: (sample database,) build and validate the feature tables, publish them to
    the feature store, evaluate walk-forward against 2.0, train and register, scan the next earnings date with
    2.0 implied moves (else the next calendar date). A stage whose inputs are unchanged since its last run is
    skipped (and says so), unless --force; a model trained on the same rows and options before (a walk-forward
    fold a new day did not move) is reused. With --json, one JSON document of every stage's result, with its
    seconds (`stage_seconds`) and the trainings reused and done."""
    from ivcrush.events import next_scan_date

    started = time.perf_counter()
    laps = _Laps()
    settings = settings_for(workdir, db)
    ensure_sample(settings)
    show = not as_json
    built = run_build(settings, meanwhile=_import_later_stages, show=show, reuse=not force)
    laps.lap("build")
    from ivcrush.feature_repo.materialize import Materializing  # imported meanwhile: after the build, at no cost
    from ivcrush.serving.run_index import write_run_index

    next_date, which = next_scan_date(built)
    # The online store loads in a forked process while the training set is retrieved and the evaluation runs
    # (they read the registry and the offline store only); published before a model is registered or scanned.
    with Materializing(settings, next_date, reuse=not force, background=True) as making:
        laps.lap("materialize")
        generation, evaluation, model_id, trainings = _evaluate_and_train(settings, making, laps, force, show)
    scanned = None
    if next_date is None and show:
        console.print(f"no scan: {which}", highlight=False)
    elif next_date is not None:
        if show:
            console.rule(f"scan of {next_date}: {which}")
        scanned = run_scan(settings, next_date, None, "balanced", write_back=False, as_json=False, show=show)
    laps.lap("scan")
    index = write_run_index(
        settings,
        generation,
        evaluation,
        model_id=model_id,
        scan_date=next_date,
        recommendations=scanned.recommendations if scanned else (),
        refusals=scanned.refusals if scanned else (),
    )
    laps.lap("report")
    seconds = time.perf_counter() - started
    if as_json:
        print_json(
            {
                "build": asdict(built),
                "generation": asdict(generation),
                "evaluation": {key: evaluation.get(key) for key in ("summary", "verdicts", "out_dir", "path")},
                "model_id": model_id,
                "trainings": trainings,
                "scan_date": None if next_date is None else next_date.isoformat(),
                "scan_date_is": which,
                "scan": scanned.payload if scanned else None,
                "report": str(index),
                "seconds": round(seconds, 1),
                "stage_seconds": laps.seconds,
            }
        )
    else:
        console.print(f"report: {index}", highlight=False, soft_wrap=True)
        console.print(f"main job done in {seconds:.1f} s", highlight=False)

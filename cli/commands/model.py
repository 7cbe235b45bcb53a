"""Model commands: walk-forward evaluation, training and registration, the registry's listing."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ivcrush.cli.options import DATE_FORMATS, CommandError, JsonOption, WorkdirOption, console, settings_for
from ivcrush.cli.render import print_evaluation, print_json, print_models

if TYPE_CHECKING:
    import pandas as pd

    from ivcrush.settings import Settings
    from ivcrush.training.fold_cache import ModelCache
    from ivcrush.workspace import Generation


def run_train(
    settings: Settings,
    evaluation: dict | None = None,
    dataset: pd.DataFrame | None = None,
    generation: Generation | None = None,
    as_json: bool = False,
    show: bool = True,
    models_cache: ModelCache | None = None,
) -> str:
    """Train and register the models; show where. Returns the model id. `models_cache`: the main job's."""
    from ivcrush.training.release import train_and_register

    model_id = train_and_register(
        settings, evaluation=evaluation, dataset=dataset, generation=generation, models_cache=models_cache
    )
    if show and as_json:
        print_json({"model_id": model_id, "models_dir": str(settings.workdir / "models")})
    elif show:
        console.print(f"model {model_id} registered in {settings.workdir / 'models'}")
    return model_id


def evaluate(
    workdir: WorkdirOption = None,
    train_until: Annotated[
        datetime | None, typer.Option("--train-until", help="Train on outcomes before this day.", formats=DATE_FORMATS)
    ] = None,
    test_from: Annotated[
        datetime | None, typer.Option("--test-from", help="Test on events from this day on.", formats=DATE_FORMATS)
    ] = None,
    folds: Annotated[int, typer.Option(help="Expanding walk-forward folds (without the dates).", min=1)] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Walk-forward evaluation by date of every model next to the 2.0 baselines, with the skill gate."""
    from ivcrush.training.evaluate import evaluate as run_evaluation

    if (train_until is None) != (test_from is None):
        raise CommandError("give --train-until and --test-from together")
    result = run_evaluation(
        settings_for(workdir),
        train_until=train_until.date() if train_until else None,
        test_from=test_from.date() if test_from else None,
        folds=folds,
    )
    if as_json:
        print_json(result)
    else:
        print_evaluation(result)


def train(workdir: WorkdirOption = None, as_json: JsonOption = False) -> None:
    """Train the models on every past event (trusted labels) and register them with their skill verdicts."""
    run_train(settings_for(workdir), as_json=as_json)


def models(
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered models with their skill verdicts."""
    from ivcrush.training.registry import list_models

    listed = list_models(settings_for(workdir).workdir)
    if as_json:
        print_json(listed)
    else:
        print_models(listed)

"""Feast's own command line on the published generation."""

from __future__ import annotations

import typer

from ivcrush.cli.options import WorkdirOption, settings_for


def feast(ctx: typer.Context, workdir: WorkdirOption = None) -> None:
    """Feast's own CLI on the published generation: `ivcrush feast -- plan`, `-- feature-views list`, `-- ui`."""
    from ivcrush.feature_repo.feast_cli import run_feast_cli

    raise typer.Exit(run_feast_cli(settings_for(workdir), ctx.args))

"""Backtest commands: the real trade journal replayed with the ML filter, and a simulated IV-crush backtest."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ivcrush.cli.options import DATE_FORMATS, DbOption, WorkdirOption, console, settings_for
from ivcrush.cli.render import print_json

if TYPE_CHECKING:
    from ivcrush.settings import Settings


def _journal_result(settings: Settings, date_from: datetime | None, date_to: datetime | None) -> dict:
    """The journal's positions over the published build, replayed with the LightGBM forecaster."""
    from ivcrush.training.backtest import journal_backtest, lightgbm_forecaster, load_events
    from ivcrush.training.journal import journal_positions
    from ivcrush.workspace import published

    events = load_events(settings)
    positions = journal_positions(settings.source_db, Path(published(settings).build_dir))
    return journal_backtest(
        positions,
        events,
        lightgbm_forecaster(),
        date_from=date_from,
        date_to=date_to,
        equity=settings.account.equity,
    )


def _simulate_result(
    settings: Settings, implied_moves: Path | None, k: float, date_from: datetime | None, date_to: datetime | None
) -> dict:
    """Every past event simulated with the LightGBM forecaster, with the given implied moves where known."""
    import pandas as pd

    from ivcrush.training.backtest import lightgbm_forecaster, load_events, simulate_backtest

    implied = pd.read_csv(implied_moves, parse_dates=["earnings_date"]) if implied_moves else None
    return simulate_backtest(
        load_events(settings),
        lightgbm_forecaster(),
        implied_moves=implied,
        k=k,
        date_from=date_from,
        date_to=date_to,
    )


def _show(result: dict, settings: Settings, kind: str, as_json: bool) -> None:
    """Write the HTML report into the workspace; print the result (or its summary and the report's path)."""
    from ivcrush.training.backtest_report import summary_text, write_report

    out_dir = settings.workdir / "backtests" / f"{kind}-{datetime.now():%Y%m%dT%H%M%S}"
    html = write_report(result, out_dir)
    if as_json:
        print_json(result)
    else:
        console.print(summary_text(result), highlight=False, soft_wrap=True, markup=False)
        console.print(f"report {html}")


def journal(
    date_from: Annotated[datetime | None, typer.Option("--from", formats=DATE_FORMATS)] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", formats=DATE_FORMATS)] = None,
    db: DbOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay the trade journal's positions with and without the ML filter (policy chosen on earlier data)."""
    settings = settings_for(workdir, db)
    _show(_journal_result(settings, date_from, date_to), settings, "journal", as_json)


def simulate(
    date_from: Annotated[datetime | None, typer.Option("--from", formats=DATE_FORMATS)] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", formats=DATE_FORMATS)] = None,
    implied_moves: Annotated[Path | None, typer.Option(help="CSV: ticker,earnings_date,implied_move_pct.")] = None,
    k: Annotated[float, typer.Option(help="Assumed implied move = k x 2.0 mean where none is known.")] = 1.0,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sell premium at every past event, settle at the reaction-day move: ML rule vs 2.0's rule."""
    settings = settings_for(workdir)
    _show(_simulate_result(settings, implied_moves, k, date_from, date_to), settings, "simulate", as_json)

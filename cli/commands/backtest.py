"""Backtest commands: the real trade journal replayed with the ML filter, and a simulated IV-crush backtest."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ivcrush.cli.options import DateFromOption, DateToOption, DbOption, WorkdirOption, console, settings_for
from ivcrush.cli.render import print_json

if TYPE_CHECKING:
    from ivcrush.settings import Settings


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment else None


def _show(result: dict, settings: Settings, kind: str, as_json: bool) -> None:
    """Write the HTML report into the workspace; print the result (or its summary and the report's path)."""
    from ivcrush.training.backtest.report import summary_text, write_report

    out_dir = settings.workdir / "backtests" / f"{kind}-{datetime.now():%Y%m%dT%H%M%S}"
    html = write_report(result, out_dir)
    if as_json:
        print_json(result)
    else:
        console.print(summary_text(result), highlight=False, soft_wrap=True, markup=False)
        console.print(f"report {html}")


def journal(
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    db: DbOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay the trade journal's positions with and without the ML filter (policy chosen on earlier data)."""
    from ivcrush.training.backtest.journal import run_journal_backtest
    from ivcrush.workspace import published

    settings = settings_for(workdir, db)
    result = run_journal_backtest(settings, published(settings), _day(date_from), _day(date_to))
    _show(result, settings, "journal", as_json)


def simulate(
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    implied_moves: Annotated[Path | None, typer.Option(help="CSV: ticker,earnings_date,implied_move_pct.")] = None,
    k: Annotated[float, typer.Option(help="Assumed implied move = k x 2.0 mean where none is known.")] = 1.0,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sell premium at every past event, settle at the reaction-day move: ML rule vs 2.0's rule."""
    from ivcrush.training.backtest.simulate import run_simulation
    from ivcrush.workspace import published

    settings = settings_for(workdir)
    result = run_simulation(settings, published(settings), implied_moves, k, _day(date_from), _day(date_to))
    _show(result, settings, "simulate", as_json)

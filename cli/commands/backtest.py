"""Backtest commands: the real trade journal replayed with a walk-forward filter, and a simulated IV-crush
backtest; both read the out-of-sample forecasts of the walk-forward evaluation and train nothing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from ivcrush.cli.options import DATE_FORMATS, WorkdirOption, console, settings_for

if TYPE_CHECKING:
    from ivcrush.settings import Settings

FromOption = Annotated[
    datetime | None,
    typer.Option(
        "--from", formats=DATE_FORMATS, help="First day (YYYY-MM-DD): positions entered / events on or after it."
    ),
]
ToOption = Annotated[
    datetime | None,
    typer.Option(
        "--to", formats=DATE_FORMATS, help="Last day (YYYY-MM-DD): positions entered / events on or before it."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the whole result as JSON (records; numbers as numbers) instead of tables.")
]
EvaluationOption = Annotated[
    Path | None,
    typer.Option(
        "--evaluation",
        help="Evaluation folder whose out-of-sample forecasts to read. Default: the newest of the published build.",
    ),
]


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment else None


def _show(result: dict, settings: Settings, as_json: bool) -> None:
    """Write the run's HTML report into the workspace; print the result as JSON or as Rich tables."""
    from ivcrush.training.backtest.export import result_json
    from ivcrush.training.backtest.report import headline, text_tables, write_report

    page = settings.workdir / "backtests" / f"{result['kind']}-{datetime.now():%Y%m%dT%H%M%S%f}.html"
    write_report(result, page)
    result["report"] = str(page)
    if as_json:
        typer.echo(result_json(result))
        return
    for line in headline(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    for shown in text_tables(result):
        table = Table(title=shown.title, title_justify="left", box=box.SIMPLE_HEAD, caption=shown.note or None)
        for i, column in enumerate(shown.header):
            table.add_column(column, justify="left" if i in shown.text_columns else "right", overflow="fold")
        for row in shown.rows:
            table.add_row(*row)
        console.print(table)
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"report {page}", highlight=False, markup=False, soft_wrap=True)


def journal(
    date_from: FromOption = None,
    date_to: ToOption = None,
    roll_days: Annotated[
        int | None,
        typer.Option(
            "--roll-days",
            min=0,
            max=60,
            help="A position reopened within this many business days of closing one of the same symbol and kind "
            "continues its campaign. Default: the roll_days setting (2).",
        ),
    ] = None,
    evaluation: EvaluationOption = None,
    workdir: WorkdirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay the trade journal's campaigns (roll chains) with and without a filter on the out-of-sample
    forecast P(loss), its threshold re-chosen each month from the campaigns closed before it."""
    from ivcrush.training.backtest.journal import run_journal_backtest
    from ivcrush.workspace import published

    settings = settings_for(workdir)
    result = run_journal_backtest(
        settings, published(settings), _day(date_from), _day(date_to), evaluation=evaluation, roll_days=roll_days
    )
    _show(result, settings, as_json)


def simulate(
    date_from: FromOption = None,
    date_to: ToOption = None,
    implied_moves: Annotated[
        Path | None,
        typer.Option(
            help="CSV of market implied moves (ticker,earnings_date,implied_move_pct); else 2.0's scans where they "
            "exist."
        ),
    ] = None,
    evaluation: EvaluationOption = None,
    workdir: WorkdirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sell premium at every event of the evaluation's test folds, settle at the reaction-day move: ML rule vs
    2.0's rule. P&L only at market premiums; otherwise each rule's break-even premium ratio."""
    from ivcrush.training.backtest.simulate import run_simulation
    from ivcrush.workspace import published

    settings = settings_for(workdir)
    result = run_simulation(
        settings, published(settings), implied_moves, _day(date_from), _day(date_to), evaluation=evaluation
    )
    _show(result, settings, as_json)

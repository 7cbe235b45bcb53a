"""Market-data commands: `ivcrush import prices|options PATH` into the workspace's market store,
`ivcrush collect prices` from a provider, and `ivcrush market status` (what the store holds, from where)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from ivcrush.cli.options import DATE_FORMATS, DbOption, WorkdirOption, console, errors, settings_for

import_app = typer.Typer(help="Import market data a vendor exported (CSV or Parquet) into the workspace's store.")
collect_app = typer.Typer(help="Collect market data from a provider into the workspace's store (incremental).")
market_app = typer.Typer(help="The workspace's market-data store (daily prices, option quotes).")
PathArgument = Annotated[Path, typer.Argument(help="A .csv or .parquet file with the documented columns.")]


ProviderOption = Annotated[
    str, typer.Option(help="yahoo (keyless) or polygon (POLYGON_API_KEY in the environment or .env).")
]


def _ticker_list(tickers: str) -> list[str]:
    """Comma-separated tickers, upper-cased, empty entries dropped."""
    return [t.strip().upper() for t in tickers.split(",") if t.strip()]


def _import(kind: str, path: Path, workdir: Path | None) -> None:
    from ivcrush.market.importer import import_file

    result = import_file(settings_for(workdir), kind, path)
    console.print(
        f"{result.dataset}: {result.rows_written:,} rows imported from {path}; "
        f"{result.rows_stored:,} rows of {result.tickers:,} tickers stored"
    )


@import_app.command("prices")
def import_prices(path: PathArgument, workdir: WorkdirOption = None) -> None:
    """Daily bars: ticker, date (YYYY-MM-DD), open, high, low, close, volume. Index series as tickers SPY, ^VIX."""
    _import("prices", path, workdir)


@import_app.command("options")
def import_options(path: PathArgument, workdir: WorkdirOption = None) -> None:
    """Option quotes: ticker, as_of (ISO timestamp, or a date = its 16:00 New York close), expiration
    (YYYY-MM-DD), strike, type (C/P), bid, ask, and optionally iv (annualised fraction)."""
    _import("options", path, workdir)


@market_app.command("status")
def status(workdir: WorkdirOption = None) -> None:
    """What the market store holds and every update's source and fetch time."""
    from ivcrush.market.store import market_dir, read_manifest

    folder = market_dir(settings_for(workdir))
    manifest = read_manifest(folder)
    if not manifest:
        console.print(
            f"no market data in {folder}: the build keeps the proxies (volatility from stored moves, market "
            "regime from earnings counts) and AMC labels stay untrusted; `ivcrush import prices PATH` adds prices"
        )
        return
    table = Table(title=f"market store {folder}", title_justify="left")
    for column in ("dataset", "rows", "tickers", "first", "last", "last update (source, fetched at)"):
        table.add_column(column)
    for name, entry in manifest.items():
        last = entry["updates"][-1] if entry["updates"] else {}
        update = f"{last.get('source', '')}, {last.get('fetched_at', '')}"
        table.add_row(name, f"{entry['rows']:,}", f"{entry['tickers']:,}", entry["first"], entry["last"], update)
    console.print(table)


@collect_app.command("prices")
def collect_prices(
    tickers: Annotated[
        str | None, typer.Option(help="Comma-separated tickers. Default: the database's tickers plus SPY and ^VIX.")
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option("--from", formats=DATE_FORMATS, help="First day. Default: 400 days before the first event."),
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--to", formats=DATE_FORMATS, help="Last day. Default: today.")
    ] = None,
    provider: ProviderOption = "yahoo",
    db: DbOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Fetch the daily bars the store lacks (only missing trading days; a stopped run resumes)."""
    from ivcrush.market.collect import collect_prices as collect
    from ivcrush.market.collect import default_request
    from ivcrush.market.providers import provider as make_provider

    settings = settings_for(workdir, db)
    source = make_provider(provider)
    today = datetime.now(UTC).date()
    default_tickers, default_start, default_end = (
        default_request(settings, today) if tickers is None or start is None else ([], today, today)
    )
    chosen = _ticker_list(tickers) if tickers else default_tickers
    first = start.date() if start else default_start
    last = end.date() if end else default_end
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{provider}", total=len(chosen))
        result = collect(
            settings,
            source,
            chosen,
            first,
            last,
            lambda ticker, number, total: bar.update(task, completed=number - 1, description=f"{provider} {ticker}"),
        )
    console.print(
        f"{result.provider}: {result.rows_written:,} bars written; {len(result.tickers_fetched)} tickers fetched, "
        f"{len(result.tickers_complete)} already complete, {len(result.failures)} failed"
    )
    _report_failures(result.failures)


def _report_failures(failures: dict[str, str]) -> None:
    for ticker, message in failures.items():
        errors.print(f"failed {ticker}: {message}", highlight=False)
    if failures:
        raise typer.Exit(1)


@collect_app.command("options")
def collect_options(
    tickers: Annotated[
        str | None, typer.Option(help="Comma-separated tickers. Default: the database's tickers.")
    ] = None,
    expirations: Annotated[int, typer.Option(help="How many of the first expirations.", min=1, max=8)] = 2,
    provider: ProviderOption = "yahoo",
    db: DbOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Snapshot today's option chains (a ticker already quoted today is skipped; a stopped run resumes)."""
    from ivcrush.market.collect import collect_options as collect
    from ivcrush.market.collect import default_request
    from ivcrush.market.providers import provider as make_provider
    from ivcrush.market.schema import INDEX_TICKER, VIX_TICKER

    settings = settings_for(workdir, db)
    source = make_provider(provider)
    if tickers:
        chosen = _ticker_list(tickers)
    else:
        everything = default_request(settings, datetime.now(UTC).date())[0]
        chosen = [t for t in everything if t not in (INDEX_TICKER, VIX_TICKER)]
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{provider}", total=len(chosen))
        result = collect(
            settings,
            source,
            chosen,
            expirations,
            lambda ticker, number, total: bar.update(task, completed=number - 1, description=f"{provider} {ticker}"),
        )
    console.print(
        f"{result.provider}: {result.rows_written:,} quotes written; {len(result.tickers_fetched)} tickers "
        f"fetched, {len(result.tickers_complete)} already quoted today, {len(result.failures)} failed"
    )
    _report_failures(result.failures)


@market_app.command("evaluate")
def evaluate_market_features(
    workdir: WorkdirOption = None,
    folds: Annotated[int, typer.Option(help="Expanding walk-forward folds.", min=1)] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk-forward evaluation with and without the market store's features, on the same events and folds."""
    import json

    from ivcrush.training.market_features import compare_market_features

    result = compare_market_features(settings_for(workdir), folds=folds)
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(title=f"market-store features, build {result['build_id']}: {result['note']}", title_justify="left")
    for column in ("figure", "with", "without", "with - without"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in result["figures"]:
        cells = [f"{row[k]:.4f}" if row[k] is not None else "-" for k in ("with", "without", "difference")]
        table.add_row(row["figure"], *cells)
    console.print(table)
    console.print(f"evaluations and comparison.json in {result['out_dir']}")


def register(app: typer.Typer) -> None:
    """Add the market-data commands to the root app."""
    app.add_typer(import_app, name="import")
    app.add_typer(collect_app, name="collect")
    app.add_typer(market_app, name="market")

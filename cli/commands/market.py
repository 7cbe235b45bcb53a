"""Market-data commands: `ivcrush import prices|options PATH` into the workspace's market store, and
`ivcrush market status` (what the store holds, where it comes from)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ivcrush.cli.options import WorkdirOption, console, settings_for

import_app = typer.Typer(help="Import market data a vendor exported (CSV or Parquet) into the workspace's store.")
market_app = typer.Typer(help="The workspace's market-data store (daily prices, option quotes).")
PathArgument = Annotated[Path, typer.Argument(help="A .csv or .parquet file with the documented columns.")]


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


def register(app: typer.Typer) -> None:
    """Add the market-data commands to the root app."""
    app.add_typer(import_app, name="import")
    app.add_typer(market_app, name="market")

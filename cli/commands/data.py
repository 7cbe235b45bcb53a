"""Data commands: the sample database, validation, the dbt build, the Feast publication, training sets."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ivcrush.cli.options import (
    AsOfOption,
    CommandError,
    DbOption,
    JsonOption,
    WorkdirOption,
    console,
    notice,
    noting,
    settings_for,
)
from ivcrush.cli.render import (
    print_build,
    print_generation,
    print_json,
    print_online_features,
    print_sample_counts,
    render_summary,
)

if TYPE_CHECKING:
    from ivcrush.feature_repo.materialize import Materializing
    from ivcrush.settings import Settings
    from ivcrush.workspace import BuildResult, Generation


def ensure_sample(settings: Settings) -> None:
    """Without --db, the commands use the generated sample database (written once)."""
    if settings.db is None and not settings.sample_db.exists():
        from ivcrush.source.sample import write_sample_db

        settings.sample_db.parent.mkdir(parents=True, exist_ok=True)
        counts = write_sample_db(settings.sample_db)
        notice(
            f"sample database written to {settings.sample_db} "
            f"({counts['historical_moves']:,} past moves, {counts['earnings_calendar']:,} calendar rows)"
        )


def run_build(
    settings: Settings,
    meanwhile: Callable[[], None] | None = None,
    as_json: bool = False,
    show: bool = True,
    reuse: bool = False,
) -> BuildResult:
    """Build, check and publish the feature tables, and show what was published (as JSON: the build's record;
    not at all without `show`). With `reuse`, the current build is kept where its inputs are unchanged."""
    from ivcrush.build import build
    from ivcrush.workspace import current_build

    previous = current_build(settings) if reuse else None
    labels = iter(("raw tables", "marts"))  # the build reports the raw tables' checks, then the marts'
    summary = (lambda report: render_summary(report, console, next(labels, ""))) if show and not as_json else None
    with noting("nothing was published; the previous build (if any) stays current"):
        result = build(settings, on_quality=summary, meanwhile=meanwhile, reuse=reuse)
    if show and as_json:
        print_json(asdict(result))
    elif show and previous is not None and result.build_id == previous.build_id:
        console.print(f"build: unchanged since {result.build_id}, skipped (validation too)", highlight=False)
    elif show:
        print_build(result)
    return result


def run_materialize(
    settings: Settings, as_of: date | None, as_json: bool = False, show: bool = True, reuse: bool = False
) -> Generation:
    """Publish the current build to the feature store as a new generation, and show it (unless not `show`).
    With `reuse`, the published generation is kept where it holds the same build and day."""
    from ivcrush.feature_repo.materialize import Materializing

    with Materializing(settings, as_of, reuse=reuse) as making:
        return show_published(making, as_json, show)


def show_published(making: Materializing, as_json: bool = False, show: bool = True) -> Generation:
    """Publish the generation in the making (after its online store is loaded), and show it (unless not
    `show`; as JSON: its record and seconds)."""
    generation = making.publish()
    seconds = time.perf_counter() - making.started
    if show and as_json:
        print_json({**asdict(generation), "seconds": round(seconds, 2)})
    elif show and making.reused:
        console.print(f"generation: unchanged since {generation.generation_id}, skipped", highlight=False)
    elif show:
        print_generation(generation, seconds)
    return generation


def sample_db(
    path: Annotated[Path, typer.Argument(help="Where to write the new SQLite file (must not exist).")],
    tickers: Annotated[int, typer.Option(help="Number of tickers.", min=1)] = 250,
    years: Annotated[int, typer.Option(help="Years of earnings history per ticker.", min=1)] = 6,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same data.")] = 7,
    prices: Annotated[
        bool,
        typer.Option(
            "--prices", help="Also write its daily prices and option quotes into the workspace's market store."
        ),
    ] = False,
    workdir: WorkdirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a realistic sample 2.0 database (same schema as ivcrush.db, WAL mode)."""
    from ivcrush.source.sample import write_sample_db

    if not path.parent.is_dir():
        raise CommandError(f"{path}: the folder {path.parent} does not exist; create it or choose another path")
    try:
        counts = write_sample_db(path, tickers=tickers, years=years, seed=seed)
    except FileExistsError as exc:
        raise CommandError(f"{path}: already exists; choose a new path") from exc
    except (OSError, sqlite3.Error) as exc:
        raise CommandError(f"{path}: cannot be written ({exc})") from exc
    market = None
    if prices:
        from ivcrush.source.sample_prices import write_sample_market

        bars, quotes = write_sample_market(settings_for(workdir), path, seed)
        market = {"daily_bars": bars.rows_stored, "option_quotes": quotes.rows_stored}
    if as_json:
        print_json({"path": str(path), "rows": counts, "market": market})
        return
    print_sample_counts(path, counts)
    if market is not None:
        console.print(
            f"sample market data: {market['daily_bars']:,} daily bars, {market['option_quotes']:,} option quotes"
        )


def validate(
    db: DbOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON result instead of the summary.")] = False,
) -> None:
    """Run the data-quality suites on the database (and on the published feature tables built from it);
    write JSON and Great Expectations Data Docs into the workspace; exit 1 on any error-severity failure."""
    settings = settings_for(workdir, db)
    ensure_sample(settings)
    from ivcrush.quality.validation import validate as run_validation

    started = time.perf_counter()
    done = run_validation(settings)
    if as_json:
        console.print_json(done.result_path.read_text())
    else:
        render_summary(done.report, console)
        console.print(
            f"result {done.result_path}; Data Docs {done.summary_path} ({time.perf_counter() - started:.1f} s)"
        )
    if done.report.errors:
        raise typer.Exit(1)


def build(db: DbOption = None, workdir: WorkdirOption = None, as_json: JsonOption = False) -> None:
    """Build and test the dbt feature tables from the database; publish them only if all pass."""
    settings = settings_for(workdir, db)
    ensure_sample(settings)
    run_build(settings, as_json=as_json)


def materialize(workdir: WorkdirOption = None, as_of: AsOfOption = None, as_json: JsonOption = False) -> None:
    """Register the current build in Feast and load its online store (atomically, as a new generation)."""
    run_materialize(settings_for(workdir), as_of.date() if as_of else None, as_json)


def dataset(
    out: Annotated[Path, typer.Option("--out", help="Parquet (.parquet) or CSV file to write.")],
    workdir: WorkdirOption = None,
    trusted_only: Annotated[bool, typer.Option(help="Only events whose label is trusted.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write the point-in-time training set (Feast features + labels of every past event)."""
    from ivcrush.training.data import training_set

    if out.is_dir():
        raise CommandError(f"--out {out}: is a folder; name the file to write")
    frame = training_set(settings_for(workdir), trusted_only=trusted_only)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, index=False)
    except OSError as exc:
        raise CommandError(f"--out {out}: cannot be written ({exc})") from exc
    trusted = int(frame["label_trusted"].sum())
    if as_json:
        print_json({"out": str(out), "rows": len(frame), "trusted_labels": trusted, "columns": list(frame.columns)})
    else:
        console.print(f"{len(frame):,} events ({trusted:,} trusted labels), {frame.shape[1]} columns -> {out}")


def online_features(
    earnings_date: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="Earnings date (YYYY-MM-DD).")],
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False,
) -> None:
    """Online features (Feast online store, model's feature service) of the events on a date."""
    from ivcrush.serving.online import online_features_on

    frame = online_features_on(settings_for(workdir), earnings_date.date())
    if as_json:
        console.print_json(frame.to_json(orient="records", date_format="iso"))
    else:
        print_online_features(frame, earnings_date)

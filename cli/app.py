"""The `ivcrush` command line."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli import __version__
from cli.settings import Settings, load_settings

app = typer.Typer(
    name="ivcrush",
    help="Earnings IV-crush platform: dbt feature tables from ivcrush.db, Feast, models, strategy.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The 2.0 database to read (never written). Default: IVCRUSH_DB or the sample."),
]
WorkdirOption = Annotated[
    Path | None,
    typer.Option("--workdir", help="Workspace for builds, stores and models. Default: IVCRUSH_HOME or ./.ivcrush"),
]


class UserFacingError(Exception):
    """An error whose message is the whole story for the user (bad input, failed gate)."""


def _version(value: bool) -> None:
    if value:
        console.print(f"ivcrush {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Earnings IV-crush platform."""


def _settings(workdir: Path | None, db: Path | None) -> Settings:
    return load_settings().with_overrides(workdir=workdir, db=db)


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _ensure_sample(settings: Settings) -> None:
    """Without --db, the commands use the generated sample database (written once)."""
    if settings.db is None and not settings.sample_db.exists():
        from cli.sample_db import write_sample_db

        settings.sample_db.parent.mkdir(parents=True, exist_ok=True)
        counts = write_sample_db(settings.sample_db)
        console.print(
            f"sample database written to {settings.sample_db} "
            f"({counts['historical_moves']:,} past moves, {counts['earnings_calendar']:,} calendar rows)"
        )


def _print_build(result) -> None:
    table = Table(title=f"build {result.build_id}", title_justify="left")
    table.add_column("mart")
    table.add_column("rows", justify="right")
    for mart, rows in result.row_counts.items():
        table.add_row(mart, f"{rows:,}")
    console.print(table)
    console.print(
        f"quality: {result.quality_errors} error(s), {len(result.quality_warnings)} warning(s); "
        f"source {result.source_db} (fingerprint {result.source_fingerprint}); "
        f"AMC labels untrusted: {result.amc_labels_untrusted}; "
        f"{result.seconds['total']:.1f} s (dbt {result.seconds['dbt_build']:.1f} s)"
    )


def _run_build(settings: Settings) -> None:
    from cli.build import BuildError, build
    from cli.quality import QualityGateError, render_summary
    from cli.source_db import SourceDataError

    try:
        result = build(settings, on_quality=lambda report: render_summary(report, console))
    except (SourceDataError, BuildError, QualityGateError) as exc:
        raise _fail(f"{exc}\nnothing was published; the previous build (if any) stays current") from exc
    _print_build(result)


@app.command("sample-db")
def sample_db(
    path: Annotated[Path, typer.Argument(help="Where to write the new SQLite file (must not exist).")],
    tickers: Annotated[int, typer.Option(help="Number of tickers.", min=1)] = 250,
    years: Annotated[int, typer.Option(help="Years of earnings history per ticker.", min=1)] = 6,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same data.")] = 7,
) -> None:
    """Write a realistic sample 2.0 database (same schema as ivcrush.db, WAL mode)."""
    from cli.sample_db import write_sample_db

    try:
        counts = write_sample_db(path, tickers=tickers, years=years, seed=seed)
    except FileExistsError as exc:
        raise _fail(f"{path}: already exists; choose a new path") from exc
    table = Table(title=f"sample database {path}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        if rows:
            table.add_row(name, f"{rows:,}")
    console.print(table)


@app.command()
def validate(
    db: DbOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON result instead of the summary.")] = False,
) -> None:
    """Run the data-quality suites on the database (and on the published feature tables built from it);
    write JSON and Great Expectations Data Docs into the workspace; exit 1 on any error-severity failure."""
    from cli.build import current_build
    from cli.quality import check_marts, check_raw, render_summary, write_report
    from cli.source_db import SourceDataError

    settings = _settings(workdir, db)
    _ensure_sample(settings)
    started = time.perf_counter()
    try:
        report = check_raw(settings.source_db, severity=settings.severity)
    except SourceDataError as exc:
        raise _fail(str(exc)) from exc
    build = current_build(settings)
    if build is not None and Path(build.source_db) == settings.source_db:
        report = report + check_marts(Path(build.build_dir), severity=settings.severity)
    out_dir = settings.workdir / "validation" / datetime.now().strftime("%Y%m%dT%H%M%S")
    result_path = write_report(report, out_dir)
    if as_json:
        console.print_json(result_path.read_text())
    else:
        render_summary(report, console)
        console.print(
            f"result {result_path}; Data Docs {out_dir / 'summary.html'} ({time.perf_counter() - started:.1f} s)"
        )
    if report.errors:
        raise typer.Exit(1)


@app.command()
def build(db: DbOption = None, workdir: WorkdirOption = None) -> None:
    """Build and test the dbt feature tables from the database; publish them only if all pass."""
    settings = _settings(workdir, db)
    _ensure_sample(settings)
    _run_build(settings)


AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Serve the events decided up to the end of this day (default: today, UTC).",
    ),
]


def _run_materialize(settings: Settings, as_of: date | None) -> None:
    from cli.materialize import MaterializeError, materialize

    started = time.perf_counter()
    try:
        generation = materialize(settings, as_of)
    except MaterializeError as exc:
        raise _fail(f"{exc}\nthe previously published online store (if any) is unchanged") from exc
    console.print(
        f"feature store generation {generation.generation_id} published: build {generation.build_id}, "
        f"service {generation.feature_service}, {generation.online_store} online store, "
        f"{generation.online_rows:,} tickers with events decided in the TTL window up to {generation.as_of} "
        f"({time.perf_counter() - started:.1f} s)"
    )


@app.command()
def materialize(workdir: WorkdirOption = None, as_of: AsOfOption = None) -> None:
    """Register the current build in Feast and load its online store (atomically, as a new generation)."""
    _run_materialize(_settings(workdir, None), as_of.date() if as_of else None)


@app.command()
def dataset(
    out: Annotated[Path, typer.Option("--out", help="Parquet (.parquet) or CSV file to write.")],
    workdir: WorkdirOption = None,
    trusted_only: Annotated[bool, typer.Option(help="Only events whose label is trusted.")] = False,
) -> None:
    """Write the point-in-time training set (Feast features + labels of every past event)."""
    from cli.materialize import MaterializeError
    from training.data import DatasetError, training_set

    settings = _settings(workdir, None)
    try:
        frame = training_set(settings, trusted_only=trusted_only)
    except (DatasetError, MaterializeError) as exc:
        raise _fail(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    trusted = int(frame["label_trusted"].sum())
    console.print(f"{len(frame):,} events ({trusted:,} trusted labels), {frame.shape[1]} columns -> {out}")


@app.command("online-features")
def online_features(
    earnings_date: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="Earnings date (YYYY-MM-DD).")],
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False,
) -> None:
    """Online features (Feast online store, model's feature service) of the events on a date."""
    from cli.materialize import MaterializeError
    from serving.online import ServingError, events_on
    from serving.online import online_features as read_online

    settings = _settings(workdir, None)
    try:
        events = events_on(settings, earnings_date.date())
        if events.empty:
            raise _fail(f"no calendar event on {earnings_date:%Y-%m-%d}")
        frame = read_online(settings, events)
    except (MaterializeError, ServingError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        console.print_json(frame.to_json(orient="records", date_format="iso"))
        return
    table = Table(title=f"online features, earnings {earnings_date:%Y-%m-%d}", title_justify="left")
    shown = [
        "ticker",
        "timing",
        "hm_prior_events",
        "hm_close_mean_12q_all_rows",
        "hm_close_mean_4q",
        "opt_implied_move_pct",
    ]
    for column in shown:
        table.add_column(column)
    for row in frame[shown].itertuples(index=False):
        table.add_row(*("-" if pd_isna(v) else f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


def pd_isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


@app.command()
def run(db: DbOption = None, workdir: WorkdirOption = None) -> None:
    """The main job, end to end: (sample database,) build and validate the feature tables, publish them
    to the feature store, print a summary."""
    settings = _settings(workdir, db)
    _ensure_sample(settings)
    _run_build(settings)
    _run_materialize(settings, _next_earnings_date(settings))


def _next_earnings_date(settings: Settings) -> date | None:
    """The first earnings date after the last stored move: the day the main job prepares for."""
    import pandas as pd

    from cli.build import current_build, mart_path

    build = current_build(settings)
    events = pd.read_parquet(mart_path(Path(build.build_dir), "earnings_events"))
    last_outcome = events.loc[events["has_outcome"], "earnings_date"].max()
    upcoming = events.loc[events["earnings_date"] > last_outcome, "earnings_date"]
    return None if upcoming.empty else pd.Timestamp(upcoming.min()).date()


def main() -> None:
    app()

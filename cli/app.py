"""The `ivcrush` command line."""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ivcrush import __version__
from ivcrush.settings import Settings, load_settings
from ivcrush.workspace import current_build, next_earnings_date

if TYPE_CHECKING:
    import pandas as pd

    from ivcrush.settings import Account

app = typer.Typer(
    name="ivcrush",
    help="Earnings IV-crush platform: dbt feature tables from ivcrush.db, Feast, models, strategy.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Rich wraps at 80 columns when output is not a terminal (pipes, CI logs): tables need more.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

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
        from ivcrush.source.sample import write_sample_db

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


def _run_build(settings: Settings, meanwhile: Callable[[], None] | None = None) -> None:
    from ivcrush.build import BuildError, build
    from ivcrush.quality.checks import QualityGateError, render_summary
    from ivcrush.source.reader import SourceDataError

    try:
        result = build(settings, on_quality=lambda report: render_summary(report, console), meanwhile=meanwhile)
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
    from ivcrush.source.sample import write_sample_db

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
    from ivcrush.quality.checks import check_marts, check_raw, render_summary, write_report
    from ivcrush.source.reader import SourceDataError
    from ivcrush.workspace import current_build

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
    from ivcrush.feature_repo.materialize import MaterializeError, materialize

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
    frame = _training_set(_settings(workdir, None), trusted_only)
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
    from ivcrush.feature_repo.materialize import MaterializeError
    from ivcrush.serving.online import ServingError, events_on
    from ivcrush.serving.online import online_features as read_online

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


DATE_FORMATS = ["%Y-%m-%d"]


def _run_evaluate(
    settings: Settings,
    train_until: date | None,
    test_from: date | None,
    folds: int,
    dataset: pd.DataFrame | None = None,
) -> dict:
    from ivcrush.feature_repo.materialize import MaterializeError
    from ivcrush.training.data import DatasetError
    from ivcrush.training.evaluate import EvaluationError, evaluate

    try:
        return evaluate(settings, train_until=train_until, test_from=test_from, folds=folds, dataset=dataset)
    except (MaterializeError, DatasetError, EvaluationError) as exc:
        raise _fail(str(exc)) from exc


def _training_set(settings: Settings, trusted_only: bool = False) -> pd.DataFrame:
    from ivcrush.feature_repo.materialize import MaterializeError
    from ivcrush.training.data import DatasetError, training_set

    try:
        return training_set(settings, trusted_only=trusted_only)
    except (MaterializeError, DatasetError) as exc:
        raise _fail(str(exc)) from exc


def _print_evaluation(result: dict) -> None:
    for sentence in result.get("summary", []):
        console.print(f"  {sentence}", highlight=False, soft_wrap=True)
    console.print(f"predictions, metrics and report.html in {result.get('out_dir')}", highlight=False)


@app.command()
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
    if (train_until is None) != (test_from is None):
        raise _fail("give --train-until and --test-from together")
    settings = _settings(workdir, None)
    result = _run_evaluate(
        settings, train_until.date() if train_until else None, test_from.date() if test_from else None, folds
    )
    if as_json:
        console.print_json(json.dumps(result, default=str))
    else:
        _print_evaluation(result)


def _run_train(settings: Settings, evaluation: dict | None = None, dataset: pd.DataFrame | None = None) -> str:
    from ivcrush.training.registry import RegistryError, train_and_register
    from ivcrush.training.train import TrainingError

    try:
        model_id = train_and_register(settings, evaluation=evaluation, dataset=dataset)
    except (RegistryError, TrainingError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"model {model_id} registered in {settings.workdir / 'models'}")
    return model_id


@app.command()
def train(workdir: WorkdirOption = None) -> None:
    """Train the models on every past event (trusted labels) and register them with their skill verdicts."""
    _run_train(_settings(workdir, None))


@app.command()
def models(
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered models with their skill verdicts."""
    from ivcrush.training.registry import list_models

    listed = list_models(_settings(workdir, None).workdir)
    if as_json:
        console.print_json(json.dumps(listed, default=str))
        return
    table = Table(title="registered models", title_justify="left")
    for column in ("model_id", "created_at", "feature_service", "training_rows", "skill"):
        table.add_column(column)
    for entry in listed:
        skill = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in dict(entry.get("skill", {})).items())
        table.add_row(
            str(entry["model_id"]),
            str(entry.get("created_at", ""))[:19],
            str(entry.get("feature_service")),
            str(entry.get("training_rows")),
            skill,
        )
    console.print(table)


def _account(settings: Settings) -> Account:
    return settings.account


PresetOption = Annotated[str, typer.Option(help="VRP tier preset: conservative, balanced or aggressive.")]


def _print_recommendations(recommendations: list, refusals: list, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in (
        "#",
        "ticker",
        "timing",
        "implied",
        "q10-q50-q90",
        "2.0 mean",
        "P>impl",
        "VRP ml/2.0",
        "recommendation",
        "structure",
        "strikes",
        "EV/ct",
        "size",
    ):
        table.add_column(column)
    for rank, rec in enumerate(recommendations, 1):
        d, q = rec.decision, rec.forecast["quantiles"]
        strikes = " / ".join(
            f"{v:g}"
            for v in (d.long_put_strike, d.short_put_strike, d.short_call_strike, d.long_call_strike)
            if v is not None
        )
        table.add_row(
            str(rank),
            rec.ticker,
            rec.timing,
            f"{d.implied_move_pct:.1f}%",
            f"{q['0.1']:.1f}-{q['0.5']:.1f}-{q['0.9']:.1f}%",
            "-" if d.hist_mean_2_0_pct is None else f"{d.hist_mean_2_0_pct:.1f}%",
            f"{d.prob_move_exceeds_implied:.0%}",
            f"{d.vrp_ml:.2f}/{'-' if d.vrp_2_0 is None else f'{d.vrp_2_0:.2f}'}",
            d.recommendation,
            d.structure,
            strikes,
            f"${d.ev_per_contract:,.0f}",
            str(d.contracts),
        )
    console.print(table)
    for rec in recommendations[:1] if len(recommendations) > 1 else recommendations:
        console.print(f"[bold]{rec.ticker}[/] explained (basis: {rec.basis}, implied from {rec.implied_source}):")
        for line in rec.decision.explain.values():
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    notes = sorted({note for rec in recommendations for note in rec.notes})
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    for refusal in refusals:
        console.print(f"[red]not served:[/] {refusal.ticker}: {refusal.reason}", highlight=False, soft_wrap=True)


def _serving_errors() -> tuple[type[Exception], ...]:
    from ivcrush.feature_repo.materialize import MaterializeError
    from ivcrush.serving.online import ServingError
    from ivcrush.serving.strategy import StrategyError

    return (MaterializeError, ServingError, StrategyError)


@app.command()
def predict(
    ticker: Annotated[str, typer.Argument(help="Stock symbol.")],
    earnings_date: Annotated[
        datetime | None, typer.Option("--date", help="Earnings date (default: the next one).", formats=DATE_FORMATS)
    ] = None,
    implied_move: Annotated[float | None, typer.Option(help="Implied move in % of spot.")] = None,
    straddle: Annotated[float | None, typer.Option(help="ATM straddle price (with --spot).")] = None,
    spot: Annotated[float | None, typer.Option(help="Stock price.")] = None,
    preset: PresetOption = "balanced",
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """Forecast, VRP, structure, strikes and size for one ticker's earnings event."""
    import pandas as pd

    from ivcrush.serving.implied import implied_from_options, normalise_ticker
    from ivcrush.serving.predict import predict_one

    settings = _settings(workdir, None)
    try:
        symbol = normalise_ticker(ticker)
        implied, spot_price = implied_from_options(implied_move, straddle, spot)
        given = None
        if implied is not None or spot_price is not None:
            given = pd.DataFrame([{"ticker": symbol, "implied_move_pct": implied, "spot": spot_price}])
        rec = predict_one(
            settings,
            symbol,
            earnings_date.date() if earnings_date else None,
            implied=given,
            account=_account(settings),
            preset=preset,
        )
    except _serving_errors() as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        console.print_json(json.dumps(rec.to_dict(), default=str))
    else:
        _print_recommendations([rec], [], f"{rec.ticker} earnings {rec.earnings_date}")


def _scan(
    settings: Settings, day: date, implied_csv: Path | None, preset: str, write_back: bool, as_json: bool
) -> None:
    from ivcrush.serving.implied import implied_from_csv
    from ivcrush.serving.predict import scan as run_scan

    try:
        implied = implied_from_csv(implied_csv) if implied_csv else None
        recommendations, refusals = run_scan(settings, day, implied=implied, account=_account(settings), preset=preset)
    except _serving_errors() as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        payload = {
            "date": day.isoformat(),
            "recommendations": [r.to_dict() for r in recommendations],
            "refused": [{"ticker": r.ticker, "reason": r.reason} for r in refusals],
        }
        console.print_json(json.dumps(payload, default=str))
    else:
        _print_recommendations(recommendations, refusals, f"earnings scan {day}, ranked")
    if write_back:
        from ivcrush.serving.writeback import WriteBackError
        from ivcrush.serving.writeback import write_back as do_write_back

        rows = [
            (r.ticker, r.earnings_date, float(r.forecast["point"]), float(r.forecast["confidence"]))
            for r in recommendations
        ]
        try:
            done = do_write_back(settings.source_db, rows, settings.workdir / "backups")
        except WriteBackError as exc:
            raise _fail(str(exc)) from exc
        console.print(
            f"write-back: {done.rows_updated} iv_log row(s) of {done.events_written} event(s) updated in "
            f"{settings.source_db} (backup {done.backup}); without a scan row: {len(done.events_without_scan)}"
        )


@app.command()
def scan(
    earnings_date: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="Earnings date (YYYY-MM-DD).")],
    implied_moves: Annotated[
        Path | None, typer.Option(help="CSV: ticker,implied_move_pct or ticker,straddle,spot (else iv_log).")
    ] = None,
    preset: PresetOption = "balanced",
    write_back: Annotated[
        bool, typer.Option("--write-back", help="Fill iv_log.ml_predicted_move_pct / ml_confidence (backup first).")
    ] = False,
    db: DbOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """Every calendar event on a date, with forecast, decision and size, ranked."""
    _scan(_settings(workdir, db), earnings_date.date(), implied_moves, preset, write_back, as_json)


backtest_app = typer.Typer(help="Backtests: the real trade journal and a simulated IV-crush backtest.")
app.add_typer(backtest_app, name="backtest")


def _backtest_output(result: dict, settings: Settings, kind: str, as_json: bool) -> None:
    from ivcrush.training.backtest_report import summary_text, write_report

    out_dir = settings.workdir / "backtests" / f"{kind}-{datetime.now():%Y%m%dT%H%M%S}"
    html = write_report(result, out_dir)
    if as_json:
        console.print_json(json.dumps(result, default=str))
    else:
        console.print(summary_text(result), highlight=False, soft_wrap=True, markup=False)
        console.print(f"report {html}")


@backtest_app.command("journal")
def backtest_journal(
    date_from: Annotated[datetime | None, typer.Option("--from", formats=DATE_FORMATS)] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", formats=DATE_FORMATS)] = None,
    db: DbOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay the trade journal's positions with and without the ML filter (policy chosen on earlier data)."""
    from ivcrush.training.backtest import journal_backtest, lightgbm_forecaster, load_events
    from ivcrush.training.journal import journal_positions

    settings = _settings(workdir, db)
    try:
        events = load_events(settings)
        from ivcrush.workspace import published

        positions = journal_positions(settings.source_db, Path(published(settings).build_dir))
        result = journal_backtest(
            positions,
            events,
            lightgbm_forecaster(),
            date_from=date_from,
            date_to=date_to,
            equity=settings.account.equity,
        )
    except _serving_errors() as exc:
        raise _fail(str(exc)) from exc
    _backtest_output(result, settings, "journal", as_json)


@backtest_app.command("simulate")
def backtest_simulate(
    date_from: Annotated[datetime | None, typer.Option("--from", formats=DATE_FORMATS)] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", formats=DATE_FORMATS)] = None,
    implied_moves: Annotated[Path | None, typer.Option(help="CSV: ticker,earnings_date,implied_move_pct.")] = None,
    k: Annotated[float, typer.Option(help="Assumed implied move = k x 2.0 mean where none is known.")] = 1.0,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sell premium at every past event, settle at the reaction-day move: ML rule vs 2.0's rule."""
    import pandas as pd

    from ivcrush.training.backtest import lightgbm_forecaster, load_events, simulate_backtest

    settings = _settings(workdir, None)
    try:
        implied = pd.read_csv(implied_moves, parse_dates=["earnings_date"]) if implied_moves else None
        result = simulate_backtest(
            load_events(settings),
            lightgbm_forecaster(),
            implied_moves=implied,
            k=k,
            date_from=date_from,
            date_to=date_to,
        )
    except _serving_errors() as exc:
        raise _fail(str(exc)) from exc
    _backtest_output(result, settings, "simulate", as_json)


@app.command()
def run(db: DbOption = None, workdir: WorkdirOption = None) -> None:
    """The main job, end to end: (sample database,) build and validate the feature tables, publish them to
    the feature store, evaluate walk-forward against 2.0, train and register, scan the next earnings date."""
    started = time.perf_counter()
    settings = _settings(workdir, db)
    _ensure_sample(settings)
    _run_build(settings, meanwhile=_import_later_stages)
    next_date = next_earnings_date(current_build(settings))
    _run_materialize(settings, next_date)
    console.rule("walk-forward evaluation")
    dataset = _training_set(settings)  # retrieved once for the evaluation and the training
    evaluation = _run_evaluate(settings, None, None, 3, dataset)
    _print_evaluation(evaluation)
    _run_train(settings, evaluation, dataset)
    del dataset  # free it before the scan: large at scale
    if next_date is not None:
        console.rule(f"scan of the next earnings date {next_date}")
        _scan(settings, next_date, None, "balanced", write_back=False, as_json=False)
    console.print(f"main job done in {time.perf_counter() - started:.1f} s", highlight=False)


def _import_later_stages() -> None:
    """Import Feast, LightGBM, matplotlib and the training code (seconds) while the marts are checked."""
    for module in (
        "ivcrush.feature_repo.materialize",
        "ivcrush.training.evaluate",
        "ivcrush.training.report",
        "ivcrush.training.registry",
        "ivcrush.serving.predict",
    ):
        importlib.import_module(module)


def main() -> None:
    try:
        app()
    finally:
        # Everything is written and flushed: spare the interpreter's final garbage collection over the
        # libraries' objects (about 1 s after a main job), the operating system frees the memory anyway.
        gc.freeze()


@app.command("feast", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def feast(ctx: typer.Context, workdir: WorkdirOption = None) -> None:
    """Feast's own CLI on the published generation: `ivcrush feast -- plan`, `-- feature-views list`, `-- ui`."""
    from ivcrush.errors import IvcrushError
    from ivcrush.feature_repo.feast_cli import run_feast_cli

    try:
        code = run_feast_cli(_settings(workdir, None), ctx.args)
    except IvcrushError as exc:
        raise _fail(str(exc), exc.exit_code) from exc
    raise typer.Exit(code)

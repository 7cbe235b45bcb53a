"""Rich rendering of the domain's results: tables and summaries on the console, nothing computed here."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ivcrush.cli.options import console

if TYPE_CHECKING:
    import pandas as pd

    from ivcrush.quality.report import QualityReport
    from ivcrush.serving.predict import Recommendation, Refusal
    from ivcrush.serving.writeback import WriteBack
    from ivcrush.workspace import BuildResult, Generation

ONLINE_FEATURE_COLUMNS = [
    "ticker",
    "timing",
    "hm_prior_events",
    "hm_close_mean_12q_all_rows",
    "hm_close_mean_4q",
    "opt_implied_move_pct",
]
# (header, wraps): numbers never wrap, words do
RECOMMENDATION_COLUMNS = (
    ("#", False),
    ("ticker", False),
    ("implied\ntot/earn", False),
    ("forecast |move|\nq10-q50-q90 (mean)", False),
    ("2.0\nmean", False),
    ("P>impl", False),
    ("VRP\nml/2.0", False),
    ("trade", True),
    ("credit", False),
    ("EV/ct", False),
    ("EV/risk", False),
    ("P(loss)", False),
    ("size\n(why)", True),
)
CREDIT_SOURCES = {"market quotes": "mkt", "modelled": "mod."}


def print_json(payload: object) -> None:
    """Any result as JSON (dates and other objects as their strings)."""
    console.print_json(json.dumps(payload, default=str))


def frame_table(frame: pd.DataFrame, title: str, formats: dict[str, str] | None = None) -> Table:
    """A frame as a rich table (for any command's tabular result, e.g. the backtests'): numbers right-aligned
    and formatted by `formats` (column -> format string such as "${:,.0f}" or "{:.1%}", else "{:,.4g}"),
    missing values "-"."""
    import pandas as pd

    formats = formats or {}
    table = Table(title=title, title_justify="left")
    numeric = {column: pd.api.types.is_numeric_dtype(frame[column]) for column in frame.columns}
    for column in frame.columns:
        table.add_column(str(column), justify="right" if numeric[column] else "left")
    for row in frame.itertuples(index=False):
        table.add_row(
            *(
                "-"
                if _missing(value)
                else formats.get(str(column), "{:,.4g}").format(value)
                if numeric[column] and not isinstance(value, bool)
                else escape(str(value))
                for column, value in zip(frame.columns, row, strict=True)
            )
        )
    return table


def print_frame(frame: pd.DataFrame, title: str, formats: dict[str, str] | None = None) -> None:
    """Print `frame_table(frame, title, formats)` on the console."""
    console.print(frame_table(frame, title, formats))


def render_summary(report: QualityReport, console: Console, label: str = "") -> None:
    """Short human summary: failed checks (errors, then warnings) with where, how many rows and examples;
    `label` says what was checked (e.g. "raw tables", "marts")."""
    n = len(report.checks)
    title = f"data quality{f' of the {label}' if label else ''}"
    if not report.errors and not report.warnings:
        console.print(f"[green]{title}: all {n} checks passed[/green]")
        return
    head = f"[red]{title}: FAILED[/red]" if report.errors else f"[yellow]{title}: passed with warnings[/yellow]"
    console.print(f"{head} - {len(report.errors)} error(s), {len(report.warnings)} warning(s), {n} check(s)")
    failed = [*((check, "red") for check in report.errors), *((check, "yellow") for check in report.warnings)]
    for check, style in failed:
        console.print(
            f"  [{style}]{check.severity}[/{style}] {escape(f'{check.name} ({check.where}): {check.message}')}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        for example in check.examples[:3]:
            console.print(f"      e.g. {example}", markup=False, highlight=False, soft_wrap=True)


def print_sample_counts(path: Path, counts: dict[str, int]) -> None:
    table = Table(title=f"sample database {path}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        if rows:
            table.add_row(name, f"{rows:,}")
    console.print(table)


def print_build(result: BuildResult) -> None:
    from ivcrush.quality.docs import SUMMARY_FILE  # imported here: it loads jinja2, which no other command needs

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
    summary = Path(result.build_dir) / "quality" / SUMMARY_FILE
    if summary.is_file():
        console.print(f"data quality report and Data Docs: {summary}", highlight=False, soft_wrap=True)


def print_generation(generation: Generation, seconds: float) -> None:
    console.print(
        f"feature store generation {generation.generation_id} published: build {generation.build_id}, "
        f"service {generation.feature_service}, {generation.online_store} online store, "
        f"{generation.online_rows:,} tickers with events decided in the TTL window up to {generation.as_of} "
        f"({seconds:.1f} s)"
    )


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def print_online_features(frame: pd.DataFrame, earnings_date: date) -> None:
    table = Table(title=f"online features, earnings {earnings_date:%Y-%m-%d}", title_justify="left")
    for column in ONLINE_FEATURE_COLUMNS:
        table.add_column(column)
    for row in frame[ONLINE_FEATURE_COLUMNS].itertuples(index=False):
        table.add_row(*("-" if _missing(v) else f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


def print_events(frame: pd.DataFrame, day: date) -> None:
    """A day's events: each with its timing, confirmation, outcome and label, the rows merged into it, and
    the day's rows that were merged into an event of another date."""
    table = Table(title=f"calendar events on {day:%Y-%m-%d} (published build)", title_justify="left")
    for column in ("ticker", "event", "timing", "confirmed", "outcome", "label", "other rows of the event"):
        table.add_column(column, no_wrap=column != "other rows of the event")
    for row in frame.itertuples():
        label = ("trusted" if row.label_trusted else "untrusted") if row.has_outcome else "-"
        if row.timing_conflict:
            label = "timing conflict" if label == "-" else f"{label} (timing conflict)"
        others = [] if _missing(row.merged_rows) else str(row.merged_rows).split(", ")
        if not _missing(row.merged_from):
            others = [f"{row.merged_from} merged into this event", *(o for o in others if o != row.merged_from)]
        table.add_row(
            row.ticker,
            str(row.earnings_date)[:10],
            row.timing,
            "yes" if row.is_confirmed else "no",
            "stored" if row.has_outcome else "-",
            label,
            escape(", ".join(others)),
        )
    console.print(table)
    if frame.empty:
        console.print(f"no calendar event on {day:%Y-%m-%d}", highlight=False)


def print_evaluation(result: dict) -> None:
    for sentence in result.get("summary", []):
        console.print(f"  {sentence}", highlight=False, soft_wrap=True)
    console.print(f"predictions, metrics and report.html in {result.get('out_dir')}", highlight=False)


def _feature_service(service: object) -> str:
    """A model's feature service as `name v<version>` (the registry stores it as a mapping)."""
    if isinstance(service, dict):
        return f"{service.get('name')} v{service.get('version')}"
    return "-" if service is None else str(service)


def print_models(listed: list[dict[str, Any]]) -> None:
    table = Table(title="registered models", title_justify="left")
    for column in ("model_id", "created_at", "feature_service", "training_rows", "skill"):
        table.add_column(column)
    for entry in listed:
        skill = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in dict(entry.get("skill", {})).items())
        table.add_row(
            str(entry["model_id"]),
            str(entry.get("created_at", ""))[:19],
            _feature_service(entry.get("feature_service")),
            str(entry.get("training_rows")),
            skill,
        )
    console.print(table)


def print_recommendations(
    recommendations: list[Recommendation],
    refusals: list[Refusal],
    title: str,
    explain: list[str] | None = None,
    refusal_hint: tuple[str, str] | None = None,
) -> None:
    """The ranked table (each row says why its size is what it is), then the full reasoning of the `explain`
    tickers (default: the top row's), the notes (with the tickers they concern) and the refusals;
    `refusal_hint` = (reason, what to do) adds the command's own advice to the refusals for that reason."""
    from ivcrush.serving.decision import format_probability, strike_ladder

    hinted_reason, hint = refusal_hint or ("", "")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column, wraps in RECOMMENDATION_COLUMNS:
        table.add_column(column, no_wrap=not wraps, ratio=1 if wraps else None)
    for rank, rec in enumerate(recommendations, 1):
        d, q = rec.decision, rec.forecast["quantiles"]
        strikes = strike_ladder(d)
        table.add_row(
            str(rank),
            f"{rec.ticker}\n{rec.timing}",
            f"{d.implied_total_pct:.1f}/{d.implied_earnings_pct:.1f}%",
            f"{q['0.1']:.1f}-{q['0.5']:.1f}-{q['0.9']:.1f}% ({d.forecast_mean_pct:.1f})",
            "-" if d.hist_mean_2_0_pct is None else f"{d.hist_mean_2_0_pct:.1f}%",
            format_probability(d.prob_move_exceeds_implied),
            f"{d.vrp_ml:.2f}/{'-' if d.vrp_2_0 is None else f'{d.vrp_2_0:.2f}'}",
            f"{d.recommendation}\n{d.structure}\n{strikes}",
            f"${d.credit_per_contract:,.0f} {CREDIT_SOURCES.get(d.credit_source, d.credit_source)}",
            f"${d.ev_per_contract:,.0f}",
            f"{d.ev_per_risk:+.1%}",
            format_probability(d.prob_loss),
            f"{d.contracts} ({d.size_limit})",
        )
    console.print(table)
    for rec in recommendations:
        console.print(
            f"  size {rec.ticker}: {rec.decision.contracts}, {rec.decision.size_reason}", highlight=False, markup=False
        )
    if recommendations:
        console.print(
            "implied: total (straddle / spot) / earnings-only (less the ordinary days to expiration); mean: forecast "
            "mean |move|, what VRP divides; credit: mkt = market quotes, mod. = modelled (Black-Scholes repricing "
            "the straddle, no chain prices); EV and sizes net of costs; EV/risk: per $ of max loss or Reg-T margin",
            highlight=False,
            soft_wrap=True,
        )
    wanted = [rec.ticker for rec in recommendations[:1]] if explain is None else explain
    by_ticker = {rec.ticker: rec for rec in recommendations}
    for ticker in wanted:
        explained = by_ticker.get(ticker)
        if explained is None:
            console.print(f"[yellow]--explain {ticker}:[/] not among this scan's recommendations", highlight=False)
            continue
        console.print(
            f"[bold]{ticker}[/] explained (basis: {explained.basis}, implied from {escape(explained.implied_source)}):"
        )
        for line in explained.decision.explain.values():
            console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
    tickers_by_note: dict[str, list[str]] = {}
    for rec in recommendations:
        for note in rec.notes:
            tickers_by_note.setdefault(note, []).append(rec.ticker)
    for note, tickers in sorted(tickers_by_note.items()):
        console.print(f"[yellow]note:[/] {escape(', '.join(tickers))}: {escape(note)}", highlight=False, soft_wrap=True)
    tickers_by_reason: dict[str, list[str]] = {}
    for refusal in refusals:
        tickers_by_reason.setdefault(refusal.reason, []).append(refusal.ticker)
    for reason, tickers in tickers_by_reason.items():
        text = f"{', '.join(tickers)}: {reason}" + (f"; {hint}" if hint and reason == hinted_reason else "")
        console.print(f"[red]not served:[/] {escape(text)}", highlight=False, soft_wrap=True)


def print_write_back(done: WriteBack, source_db: Path) -> None:
    console.print(
        f"write-back: {done.rows_updated} iv_log row(s) of {done.events_written} event(s) updated in "
        f"{source_db} (backup {done.backup}); without a scan row: {len(done.events_without_scan)}"
    )

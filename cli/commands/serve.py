"""Serving commands: one ticker's recommendation, a day's ranked scan (and its write-back to 2.0)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer
from rich.markup import escape

from ivcrush.cli.commands.calendar import merged_lines, served_day
from ivcrush.cli.options import (
    DATE_FORMATS,
    CommandError,
    DbOption,
    EquityOption,
    KellyOption,
    PresetOption,
    WorkdirOption,
    console,
    notice,
    noting,
    settings_for,
)
from ivcrush.cli.render import print_json, print_recommendations, print_write_back
from ivcrush.errors import IvcrushError

SCAN_IMPLIED_HINT = "give it in a CSV: --implied-moves FILE (ticker,implied_move_pct or ticker,straddle,spot)"

if TYPE_CHECKING:
    from ivcrush.serving.predict import Recommendation, Refusal
    from ivcrush.settings import Settings


class Scanned(NamedTuple):
    """A scan's JSON payload and the objects it was made of."""

    payload: dict[str, object]
    recommendations: list[Recommendation]
    refusals: list[Refusal]


def predict(
    ticker: Annotated[str, typer.Argument(help="Stock symbol.")],
    earnings_date: Annotated[
        datetime | None, typer.Option("--date", help="Earnings date (default: the next one).", formats=DATE_FORMATS)
    ] = None,
    implied_move: Annotated[float | None, typer.Option(help="Implied move in % of spot.")] = None,
    straddle: Annotated[float | None, typer.Option(help="ATM straddle price (with --spot).")] = None,
    spot: Annotated[float | None, typer.Option(help="Stock price.")] = None,
    expiration: Annotated[
        datetime | None,
        typer.Option(
            help="Expiration of the straddle given (default: 2.0's scan's, else the reaction day).",
            formats=DATE_FORMATS,
        ),
    ] = None,
    preset: PresetOption = "balanced",
    equity: EquityOption = None,
    kelly: KellyOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """Forecast, VRP, structure, strikes, economics and size for one ticker's earnings event, with the full
    reasoning."""
    from ivcrush.serving.implied import normalise_ticker
    from ivcrush.serving.market import IMPLIED_MOVE_MISSING
    from ivcrush.serving.predictor import Predictor

    settings = settings_for(workdir, equity=equity, kelly=kelly)
    symbol = normalise_ticker(ticker)
    day = earnings_date.date() if earnings_date else None
    if day is not None:
        served_day(settings, day)
    try:
        rec = (
            Predictor(settings)
            .predict(
                symbol,
                day,
                implied_move=implied_move,
                straddle=straddle,
                spot=spot,
                expiration=expiration.date() if expiration else None,
                preset=preset,
            )
            .recommendation
        )
    except IvcrushError as exc:
        if str(exc).endswith(IMPLIED_MOVE_MISSING):
            exc.add_note("give it: --implied-move PCT, or --straddle PRICE with --spot PRICE")
        for line in merged_lines(settings, day, symbol, f"ivcrush predict {symbol} --date {{date}}") if day else []:
            exc.add_note(line)
        raise
    if as_json:
        print_json(rec.to_dict())
    else:
        print_recommendations([rec], [], f"{rec.ticker} earnings {rec.earnings_date}", explain=[rec.ticker])


def run_scan(
    settings: Settings,
    day: date,
    implied_csv: Path | None,
    preset: str,
    write_back: bool,
    as_json: bool,
    explain: list[str] | None = None,
    show: bool = True,
) -> Scanned:
    """Scan a day's events and show them ranked (with the full reasoning of the `explain` tickers; as JSON;
    not at all without `show`); with `write_back`, fill 2.0's ML columns (backup first)."""
    from ivcrush.serving.implied import normalise_ticker, unknown_tickers
    from ivcrush.serving.market import IMPLIED_MOVE_MISSING
    from ivcrush.serving.predict import scan_payload
    from ivcrush.serving.predictor import Predictor
    from ivcrush.serving.quotes import read_market_csv

    explained = None if explain is None else [normalise_ticker(ticker) for ticker in explain]
    market = read_market_csv(implied_csv) if implied_csv else None
    served_day(settings, day)
    merged = merged_lines(settings, day)
    with noting(*merged):
        answer = Predictor(settings).scan(
            day,
            implied=None if market is None else market.implied,
            quotes=None if market is None else market.quotes,
            preset=preset,
        )
    recommendations, refusals = answer.recommendations, answer.refusals
    if market is not None:
        unknown = unknown_tickers(market.implied, {r.ticker for r in recommendations} | {r.ticker for r in refusals})
        if unknown:
            notice(f"note: {implied_csv}: no event on {day} for {', '.join(unknown)}; those rows were not used")
    payload = scan_payload(day, recommendations, refusals, merged)
    if show and not as_json:
        print_recommendations(
            recommendations,
            refusals,
            f"earnings scan {day}, ranked",
            explain=explained,
            refusal_hint=(IMPLIED_MOVE_MISSING, SCAN_IMPLIED_HINT),
        )
        for line in merged:
            console.print(f"[cyan]merged:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if write_back:
        from ivcrush.serving.writeback import write_back_recommendations
        from ivcrush.workspace import generation_build

        build = generation_build(answer.state.generation)  # the build the scan was served from
        fingerprint = build.source_fingerprint if build else "(the served build is gone)"
        done = write_back_recommendations(
            settings.source_db, recommendations, settings.workdir / "backups", fingerprint
        )
        payload["write_back"] = {**asdict(done), "database": str(settings.source_db)}
        if show and not as_json:
            print_write_back(done, settings.source_db)
    if show and as_json:
        print_json(payload)
    return Scanned(payload, recommendations, refusals)


def scan(
    earnings_date: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="Earnings date (YYYY-MM-DD).")],
    implied_moves: Annotated[
        Path | None,
        typer.Option(
            help="CSV: ticker,implied_move_pct or ticker,straddle,spot (optional expiration), or option quotes "
            "ticker,expiration,strike,type,bid,ask (optional spot); else 2.0's iv_log."
        ),
    ] = None,
    explain: Annotated[
        list[str] | None, typer.Option("--explain", help="Print the full reasoning for this ticker (repeatable).")
    ] = None,
    preset: PresetOption = "balanced",
    equity: EquityOption = None,
    kelly: KellyOption = None,
    write_back: Annotated[
        bool, typer.Option("--write-back", help="Fill iv_log.ml_predicted_move_pct / ml_confidence (backup first).")
    ] = False,
    db: DbOption = None,
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """Every calendar event on a date, with forecast, decision and size, ranked."""
    if write_back and db is None:
        raise CommandError(
            "--write-back writes into 2.0's database: name it with --db PATH (or IVCRUSH_DB); nothing was scanned"
        )
    run_scan(
        settings_for(workdir, db, equity=equity, kelly=kelly),
        earnings_date.date(),
        implied_moves,
        preset,
        write_back,
        as_json,
        explain,
    )

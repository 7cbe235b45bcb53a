"""Distribution checks (pandas) over historical_moves: faults that no single row shows.

The after-close announcement-day fault (overall and per ticker), move columns stored signed or as fractions,
and gaps in coverage: where Great Expectations has no fitting expectation.
"""

from __future__ import annotations

import pandas as pd

from ivcrush.quality.report import EXAMPLES, CheckResult, plain, severity_of
from ivcrush.source.schema import MOVE_COLUMNS

AMC_RATIO_MIN = 0.6  # mean |close move| of AMC rows / of BMO+DMH rows
AMC_TICKER_MIN_ROWS = 3  # per-ticker comparison needs this many AMC and BMO/DMH rows
FRACTION_MEDIAN_MAX = 0.2  # a median |move| in percent below this looks like fractions
COVERAGE_BUSY_SHARE = 0.2  # a busy quarter holds >= 20% of the busiest quarter's moves
COVERAGE_GAP_SHARE = 0.2  # a gap quarter holds < 20% of the median quarter between the first and last busy one


def _custom(
    name: str,
    table: str,
    column: str | None,
    ok: bool,
    count: int,
    examples: list[str],
    message: str,
    overrides: dict[str, str] | None,
) -> CheckResult:
    """The result of one distribution check, with its severity."""
    severity = severity_of(name, table, column, overrides)
    return CheckResult(name, "raw_distribution", table, column, severity, ok, count, examples[:EXAMPLES], message)


def check_amc_fault(moves: pd.DataFrame, *, severity: dict[str, str] | None = None) -> list[CheckResult]:
    """After-close rows stored on the announcement day: their mean |close move| far below BMO/DMH's.

    `moves` has ticker, timing and close_move_pct (historical_moves joined to earnings_calendar).
    """
    table, column = "historical_moves", "close_move_pct"
    frame = moves.assign(abs_move=moves["close_move_pct"].abs())
    amc = frame["timing"] == "AMC"
    reaction = frame["timing"].isin(["BMO", "DMH"])
    results = []
    if amc.sum() == 0 or reaction.sum() == 0:
        message = "not enough AMC and BMO/DMH rows to compare"
        results.append(_custom("amc_move_ratio", table, column, True, 0, [], message, severity))
    else:
        amc_mean = frame.loc[amc, "abs_move"].mean()
        ref_mean = frame.loc[reaction, "abs_move"].mean()
        ratio = amc_mean / ref_mean if ref_mean > 0 else float("nan")
        ok = not ratio < AMC_RATIO_MIN
        n_amc = int(amc.sum())
        detail = f"mean |close move| AMC {amc_mean:.2f}% vs BMO/DMH {ref_mean:.2f}% (ratio {ratio:.2f})"
        if ok:
            message = f"ok: {detail}"
        else:
            message = (
                f"{n_amc} AMC row(s) affected: {detail} < {AMC_RATIO_MIN}; after-close moves look stored on the "
                "announcement day, not the reaction day (their labels are untrusted)"
            )
        examples = (
            [
                f"ticker={r.ticker}, earnings_date={plain(r.earnings_date)}, close_move_pct={r.close_move_pct:.2f}"
                for r in frame.loc[amc].head(EXAMPLES).itertuples()
            ]
            if not ok and "earnings_date" in frame.columns
            else []
        )
        results.append(_custom("amc_move_ratio", table, column, ok, 0 if ok else n_amc, examples, message, severity))

    stats = (
        frame.assign(amc_abs=frame["abs_move"].where(amc), ref_abs=frame["abs_move"].where(reaction))
        .groupby("ticker")
        .agg(
            n_amc=("amc_abs", "count"),
            n_ref=("ref_abs", "count"),
            amc_mean=("amc_abs", "mean"),
            ref_mean=("ref_abs", "mean"),
        )
    )
    enough = stats[(stats["n_amc"] >= AMC_TICKER_MIN_ROWS) & (stats["n_ref"] >= AMC_TICKER_MIN_ROWS)]
    enough = enough.assign(ratio=enough["amc_mean"] / enough["ref_mean"])
    low = enough[enough["ratio"] < AMC_RATIO_MIN]
    rows = int(low["n_amc"].sum())
    examples = [
        f"ticker={t}: AMC {r.amc_mean:.2f}% over {int(r.n_amc)} vs BMO/DMH {r.ref_mean:.2f}% over {int(r.n_ref)}"
        for t, r in low.sort_values("ratio").head(EXAMPLES).iterrows()
    ]
    if low.empty:
        message = f"ok: none of {len(enough)} ticker(s) with >= {AMC_TICKER_MIN_ROWS} AMC and BMO/DMH rows is affected"
    else:
        message = (
            f"{rows} AMC row(s) of {len(low)} of {len(enough)} ticker(s) with both timings have a mean |close move| "
            f"below {AMC_RATIO_MIN} x their BMO/DMH mean"
        )
    results.append(_custom("amc_move_ratio_per_ticker", table, column, low.empty, rows, examples, message, severity))
    return results


def check_moves_absolute(
    moves: pd.DataFrame, columns: tuple[str, ...] = MOVE_COLUMNS, *, severity: dict[str, str] | None = None
) -> list[CheckResult]:
    """Move columns hold absolute values: a negative value means the column was stored signed."""
    results = []
    for column in columns:
        negative = moves[column] < 0
        count = int(negative.sum())
        examples = _row_examples(moves, negative, column)
        message = (
            "ok"
            if not count
            else (
                f"{count} row(s) hold negative {column} ({count / max(len(moves), 1):.0%}): the column looks stored "
                "signed where an absolute move is expected"
            )
        )
        results.append(
            _custom("moves_absolute", "historical_moves", column, not count, count, examples, message, severity)
        )
    return results


def check_moves_in_percent(
    moves: pd.DataFrame, columns: tuple[str, ...] = MOVE_COLUMNS, *, severity: dict[str, str] | None = None
) -> list[CheckResult]:
    """Moves are in percent: a median |move| below FRACTION_MEDIAN_MAX looks like fractions (0.02 for 2%)."""
    results = []
    for column in columns:
        values = moves[column].abs().dropna()
        median = float(values.median()) if len(values) else float("nan")
        ok = not (median < FRACTION_MEDIAN_MAX)
        count = 0 if ok else len(values)
        message = (
            f"ok: median |{column}| {median:.3g}%"
            if ok
            else (
                f"median |{column}| is {median:.3g} over {len(values)} row(s), below {FRACTION_MEDIAN_MAX}: the column "
                "looks stored as fractions where percent is expected"
            )
        )
        examples = [] if ok else _row_examples(moves, moves[column].notna(), column)
        results.append(_custom("moves_in_percent", "historical_moves", column, ok, count, examples, message, severity))
    return results


def check_coverage(dates: pd.Series, *, severity: dict[str, str] | None = None) -> list[CheckResult]:
    """No sudden gap: every quarter between the first and the last busy one holds a fair share of moves."""
    dates = pd.to_datetime(dates.dropna())
    table, column = "historical_moves", "earnings_date"
    if dates.empty:
        return [_custom("coverage_gap", table, column, True, 0, [], "ok: no moves", severity)]
    counts = dates.dt.to_period("Q").value_counts()
    quarters = pd.period_range(counts.index.min(), counts.index.max(), freq="Q")
    counts = counts.reindex(quarters, fill_value=0)
    busy = counts[counts >= COVERAGE_BUSY_SHARE * counts.max()]
    span = counts.loc[busy.index.min() : busy.index.max()]
    reference = float(span.median())
    gaps = span[span < COVERAGE_GAP_SHARE * reference]
    examples = [f"{q}: {n} move(s)" for q, n in gaps.head(EXAMPLES).items()]
    if gaps.empty:
        message = f"ok: {len(span)} quarter(s) {span.index[0]}..{span.index[-1]}, median {reference:.0f} moves"
    else:
        message = (
            f"{len(gaps)} quarter(s) between {span.index[0]} and {span.index[-1]} hold fewer than "
            f"{COVERAGE_GAP_SHARE:.0%} of the median {reference:.0f} moves per quarter, e.g. {examples[0]}"
        )
    return [_custom("coverage_gap", table, column, gaps.empty, len(gaps), examples, message, severity)]


def _row_examples(frame: pd.DataFrame, mask: pd.Series, column: str) -> list[str]:
    keys = [c for c in ("id", "ticker", "earnings_date") if c in frame.columns]
    rows = frame.loc[mask, [*keys, column]].head(EXAMPLES)
    return [", ".join(f"{k}={plain(v)}" for k, v in row.items()) for row in rows.to_dict("records")]


def distribution_checks(
    moves: pd.DataFrame, calendar: pd.DataFrame, *, severity: dict[str, str] | None = None
) -> list[CheckResult]:
    """Every distribution check over historical_moves (and its calendar timing)."""
    timed = moves.merge(
        calendar[["ticker", "earnings_date", "timing"]].drop_duplicates(["ticker", "earnings_date"]),
        on=["ticker", "earnings_date"],
        how="left",
    )
    return [
        *check_amc_fault(timed, severity=severity),
        *check_moves_absolute(moves, severity=severity),
        *check_moves_in_percent(moves, severity=severity),
        *check_coverage(moves["earnings_date"], severity=severity),
    ]

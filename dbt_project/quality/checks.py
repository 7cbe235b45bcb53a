"""Data quality: Great Expectations suites over the user's 2.0 database and over a build's feature marts.

Every check reports in one format (`CheckResult`): the Great Expectations expectations defined in code
below, run with an ephemeral context (no project folder, no cloud, no analytics), and a few distribution
checks in pandas where GE has no fitting expectation (the after-close announcement-day fault, moves stored
signed or as fractions, gaps in coverage). Each check has a severity, "error" or "warning"
(`DEFAULT_SEVERITY`, overridable per call); `gate()` refuses to publish where an error check failed.

The user's database is read only through `cli.source_db`: `read_source` first (its precise messages for a
missing, foreign, corrupt, locked or malformed file), then GE through SQLAlchemy with the same read-only
URI (`mode=ro`, and `immutable=1` where no writer is about), so nothing is ever created beside it.
Great Expectations is imported lazily: importing it costs several seconds.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy

from ivcrush.errors import IvcrushError
from ivcrush.source.reader import SourceDataError, SourceSnapshot, read_source, readonly_uri, writer_active
from ivcrush.workspace import MARTS, mart_path

if TYPE_CHECKING:
    from rich.console import Console

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)
EXAMPLES = 5

# Check name -> default severity. A check may report several results (one per table or column); an
# override can name the check ("prices_positive"), or one table/column of it ("prices_positive:historical_moves",
# "prices_positive:historical_moves.prev_close").
DEFAULT_SEVERITY: dict[str, str] = {
    # raw tables of ivcrush.db (GE over SQLite)
    "required_columns": ERROR,
    "column_types": ERROR,
    "keys_not_null": ERROR,
    "unique_event": ERROR,
    "unique_event_normalized": ERROR,
    "unique_calendar_event_normalized": WARNING,
    "prices_positive": ERROR,
    "ohlc_consistent": ERROR,
    "volumes_non_negative": ERROR,
    "close_move_matches_ohlc": ERROR,
    "gap_move_matches_ohlc": ERROR,
    "intraday_move_matches_ohlc": ERROR,
    "no_future_moves": ERROR,
    "move_has_calendar_row": ERROR,
    "timing_values": ERROR,
    # distribution checks (pandas)
    "amc_move_ratio": WARNING,
    "amc_move_ratio_per_ticker": WARNING,
    "moves_absolute": ERROR,
    "moves_in_percent": ERROR,
    "coverage_gap": WARNING,
    # feature marts and labels (GE over the build's Parquet)
    "mart_columns": ERROR,
    "mart_one_row_per_event": ERROR,
    "mart_keys_not_null": ERROR,
    "mart_event_ids_match": ERROR,
    "history_features_present": ERROR,
    "abs_move_range": ERROR,
    "rate_range": ERROR,
    "labels_match_events": ERROR,
    "event_timing_values": ERROR,
}

TIMINGS = ("BMO", "AMC", "DMH", "UNKNOWN")
PRICE_COLUMNS = ("prev_close", "earnings_open", "earnings_high", "earnings_low", "earnings_close")
MOVE_COLUMNS = ("close_move_pct", "gap_move_pct", "intraday_move_pct")
MOVE_TOLERANCE_PCT = 0.01  # stored move vs the move recomputed from the OHLC, in percentage points
AMC_RATIO_MIN = 0.6  # mean |close move| of AMC rows / of BMO+DMH rows
AMC_TICKER_MIN_ROWS = 3  # per-ticker comparison needs this many AMC and BMO/DMH rows
FRACTION_MEDIAN_MAX = 0.2  # a median |move| in percent below this looks like fractions
COVERAGE_BUSY_SHARE = 0.2  # a busy quarter holds >= 20% of the busiest quarter's moves
COVERAGE_GAP_SHARE = 0.2  # a gap quarter holds < 20% of the median quarter between the first and last busy one
ABS_MOVE_MAX = 300.0

# Declared SQLite types accepted for each kind of source column (SQLAlchemy's reflected type names).
_TYPE_LISTS = {
    "integer": ["INTEGER", "BIGINT", "SMALLINT", "BOOLEAN", "NUMERIC"],
    "real": ["REAL", "FLOAT", "DOUBLE", "DOUBLE_PRECISION", "NUMERIC", "DECIMAL", "INTEGER"],
    "text": ["TEXT", "VARCHAR", "CHAR", "NVARCHAR", "CLOB", "STRING"],
}
_RAW_TYPED = {
    "historical_moves": {
        "ticker": "text",
        "earnings_date": "date",
        **dict.fromkeys(PRICE_COLUMNS, "real"),
        **dict.fromkeys(MOVE_COLUMNS, "real"),
        "volume_before": "integer",
        "volume_earnings": "integer",
    },
    "earnings_calendar": {"ticker": "text", "earnings_date": "date", "timing": "text", "confirmed": "integer"},
}
_INDEX_COLUMNS = {
    "historical_moves": ["id", "ticker", "earnings_date"],
    "earnings_calendar": ["ticker", "earnings_date"],
    "trade_journal": ["id", "symbol", "sale_date"],
    "iv_log": ["id", "ticker", "earnings_date", "scan_date"],
}


@dataclass
class CheckResult:
    """One expectation or check: what it looked at, whether it passed, how many rows failed, examples."""

    name: str
    suite: str
    table: str
    column: str | None
    severity: str  # "error" | "warning"
    success: bool
    unexpected_count: int
    examples: list[str]
    message: str

    @property
    def where(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass
class QualityReport:
    """The results of one or more suites; `_gx` keeps the GE contexts that hold them, for Data Docs."""

    checks: list[CheckResult]
    _gx: list[tuple[str, Any]] = field(default_factory=list, repr=False, compare=False)

    @property
    def errors(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == ERROR]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == WARNING]

    @property
    def passed(self) -> bool:
        return not self.errors

    def __add__(self, other: QualityReport) -> QualityReport:
        return QualityReport([*self.checks, *other.checks], [*self._gx, *other._gx])

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checks": [asdict(c) for c in self.checks],
        }


class QualityGateError(IvcrushError):
    """An error-severity check failed: the data must not be published or used."""


def gate(report: QualityReport, what: str) -> None:
    """Raise QualityGateError naming the failed error checks, where there are any."""
    errors = report.errors
    if not errors:
        return
    detail = "; ".join(f"{c.name} ({c.where}): {c.message}" for c in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    raise QualityGateError(f"refusing to publish {what}: {len(errors)} error check(s) failed: {detail}{more}")


def _severity(name: str, table: str, column: str | None, overrides: dict[str, str] | None) -> str:
    merged = {**DEFAULT_SEVERITY, **(overrides or {})}
    keys = [f"{name}:{table}.{column}"] if column else []
    for key in [*keys, f"{name}:{table}", name]:
        if key in merged:
            value = merged[key]
            if value not in SEVERITIES:
                raise ValueError(f"severity of {key}: {value!r} is neither 'error' nor 'warning'")
            return value
    return ERROR


def _check_overrides(overrides: dict[str, str] | None) -> None:
    for key, value in (overrides or {}).items():
        if value not in SEVERITIES:
            raise ValueError(f"severity of {key}: {value!r} is neither 'error' nor 'warning'")
        if key.split(":", 1)[0] not in DEFAULT_SEVERITY:
            raise ValueError(f"severity override {key!r}: no such check (known: {', '.join(DEFAULT_SEVERITY)})")


# --------------------------------------------------------------------------------------------------------------
# Great Expectations plumbing


def _gx() -> Any:
    """Import Great Expectations with analytics off (lazily: the import takes seconds)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def _context() -> Any:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.variables.data_docs_sites = {}  # no default site in a temporary folder; write_report adds one
    return context


@dataclass
class _Spec:
    """One GE expectation with the check it belongs to and how to describe a failure."""

    name: str
    table: str
    column: str | None
    expectation: Any
    describe: str  # what a failing row is, e.g. "row(s) with prev_close <= 0"


def _sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of the read-only URI from cli.source_db (uri=true passes it to sqlite3 as a URI)."""
    uri = readonly_uri(path, immutable=not writer_active(path))
    return f"sqlite:///{uri}&uri=true"


def _format_row(row: Any) -> str:
    if isinstance(row, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in row.items())
    return str(_plain(row))


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 and getattr(value, "minute", 0) == 0 else value
    if hasattr(value, "item"):
        return value.item() if getattr(value, "size", 1) == 1 else str(list(value))
    return value


def _exception_message(info: Any) -> str | None:
    """The first exception GE caught while evaluating an expectation (its info may be nested per metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message")).splitlines()[0]
    for value in info.values():
        found = _exception_message(value)
        if found:
            return found
    return None


def _result_to_check(spec: _Spec, result: Any, suite: str, overrides: dict[str, str] | None) -> CheckResult:
    severity = _severity(spec.name, spec.table, spec.column, overrides)
    raised = _exception_message(result.exception_info)
    if raised:
        message = f"could not be evaluated: {raised}"
        return CheckResult(spec.name, suite, spec.table, spec.column, severity, False, 0, [], message)
    res = dict(result.result or {})
    counted = True
    if result.expectation_config.type == "unexpected_rows_expectation":
        count = int(res.get("observed_value") or 0)
        rows = (res.get("details") or {}).get("unexpected_rows") or []
    elif "unexpected_count" in res:
        count = int(res.get("unexpected_count") or 0)
        rows = res.get("partial_unexpected_index_list") or res.get("partial_unexpected_list") or []
    else:
        counted = False
        count = 0 if result.success else 1
        rows = []
    examples = [_format_row(r) for r in list(rows)[:EXAMPLES]]
    if result.success:
        message = "ok"
    elif counted:
        message = f"{count} {spec.describe}" + (f", e.g. {examples[0]}" if examples else "")
    else:
        message = f"{spec.describe} (observed {res.get('observed_value')!r})"
    return CheckResult(
        spec.name, suite, spec.table, spec.column, severity, bool(result.success), count, examples, message
    )


def _run_suite(
    context: Any,
    suite_name: str,
    batches: list[tuple[Any, dict | None, list[_Spec], list[str]]],
    overrides: dict[str, str] | None,
) -> list[CheckResult]:
    """Validate each (batch definition, batch parameters, specs, index columns) with one suite per table."""
    gx = _gx()
    checks: list[CheckResult] = []
    for batch_definition, parameters, specs, index_columns in batches:
        if not specs:
            continue
        name = f"{suite_name}.{batch_definition.data_asset.name}"
        for i, spec in enumerate(specs):
            spec.expectation.meta = {"check": spec.name, "column": spec.column, "index": i}
        # The whole suite at once: adding expectations one by one re-saves the suite each time (seconds).
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=[s.expectation for s in specs]))
        if len(suite.expectations) != len(specs):
            raise RuntimeError(f"suite {name}: {len(specs) - len(suite.expectations)} expectation(s) were invalid")
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[validation],
                result_format={
                    "result_format": "COMPLETE",
                    "partial_unexpected_count": EXAMPLES,
                    "unexpected_index_column_names": index_columns,
                    "return_unexpected_index_query": False,
                },
            )
        )
        outcome = checkpoint.run(batch_parameters=parameters)
        for run_result in outcome.run_results.values():
            for result in run_result.results:
                spec = specs[int(result.expectation_config.meta["index"])]
                checks.append(_result_to_check(spec, result, suite_name, overrides))
    return checks


# --------------------------------------------------------------------------------------------------------------
# Raw tables


def _raw_specs(today: date) -> dict[str, list[_Spec]]:
    gxe = _gx().expectations
    hm, cal = "historical_moves", "earnings_calendar"
    specs: dict[str, list[_Spec]] = {hm: [], cal: [], "trade_journal": [], "iv_log": []}
    from ivcrush.source.reader import KEY_COLUMNS, SOURCE_COLUMNS

    for table, columns in SOURCE_COLUMNS.items():
        specs[table].append(
            _Spec(
                "required_columns",
                table,
                None,
                gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False),
                "required column(s) missing",
            )
        )
        for key in KEY_COLUMNS[table]:
            specs[table].append(
                _Spec(
                    "keys_not_null",
                    table,
                    key,
                    gxe.ExpectColumnValuesToNotBeNull(column=key),
                    f"row(s) with NULL {key}",
                )
            )
    for table, columns in _RAW_TYPED.items():
        for column, kind in columns.items():
            if kind == "date":  # GE cannot match SQLite's reflected DATE; read_source checks every value instead
                continue
            specs[table].append(
                _Spec(
                    "column_types",
                    table,
                    column,
                    gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=_TYPE_LISTS[kind]),
                    f"{column} is not declared as a {kind} column",
                )
            )
    specs[hm] += [
        _Spec(
            "unique_event",
            hm,
            "ticker, earnings_date",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["ticker", "earnings_date"]),
            "row(s) share (ticker, earnings_date) with another row",
        ),
        _Spec(
            "unique_event_normalized",
            hm,
            "ticker, earnings_date",
            gxe.UnexpectedRowsExpectation(
                description="One move per event also after upper(trim(ticker)): a lower-case duplicate is a duplicate",
                unexpected_rows_query=(
                    "SELECT id, ticker, earnings_date FROM {batch} WHERE (upper(trim(ticker)), earnings_date) IN "
                    "(SELECT upper(trim(ticker)), earnings_date FROM {batch} GROUP BY 1, 2 HAVING count(*) > 1) "
                    "ORDER BY upper(trim(ticker)), earnings_date, id"
                ),
            ),
            "row(s) duplicate an event once tickers are upper-cased and trimmed",
        ),
    ]
    for column in PRICE_COLUMNS:
        specs[hm].append(
            _Spec(
                "prices_positive",
                hm,
                column,
                gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, strict_min=True),
                f"row(s) with {column} <= 0",
            )
        )
    for high, low in (
        ("earnings_high", "earnings_low"),
        ("earnings_high", "earnings_open"),
        ("earnings_high", "earnings_close"),
        ("earnings_open", "earnings_low"),
        ("earnings_close", "earnings_low"),
    ):
        specs[hm].append(
            _Spec(
                "ohlc_consistent",
                hm,
                f"{high} >= {low}",
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=high, column_B=low, or_equal=True),
                f"row(s) with {high} < {low}",
            )
        )
    for column in ("volume_before", "volume_earnings"):
        specs[hm].append(
            _Spec(
                "volumes_non_negative",
                hm,
                column,
                gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0),
                f"row(s) with {column} < 0",
            )
        )
    tol = MOVE_TOLERANCE_PCT
    formulas = {
        "close_move_matches_ohlc": ("close_move_pct", "abs(earnings_close / prev_close - 1) * 100", None),
        "gap_move_matches_ohlc": ("gap_move_pct", "abs(earnings_open / prev_close - 1) * 100", None),
        # 2.0 divides the high-low range by prev_close in ~95% of rows and by the open in the rest
        "intraday_move_matches_ohlc": (
            "intraday_move_pct",
            "(earnings_high - earnings_low) / prev_close * 100",
            "(earnings_high - earnings_low) / earnings_open * 100",
        ),
    }
    for name, (column, formula, alternative) in formulas.items():
        condition = f"abs({column} - {formula}) > {tol}"
        if alternative:
            condition += f" AND abs({column} - {alternative}) > {tol}"
        specs[hm].append(
            _Spec(
                name,
                hm,
                column,
                gxe.UnexpectedRowsExpectation(
                    description=f"{column} = {formula}"
                    + (f" (or {alternative})" if alternative else "")
                    + f" within {tol} percentage points",
                    unexpected_rows_query=(
                        f"SELECT id, ticker, earnings_date, {column}, round({formula}, 4) AS recomputed "
                        f"FROM {{batch}} WHERE prev_close > 0 AND earnings_open > 0 AND ({condition}) ORDER BY id"
                    ),
                ),
                f"row(s) whose {column} differs from {formula} by more than {tol}",
            )
        )
    specs[hm] += [
        _Spec(
            "no_future_moves",
            hm,
            "earnings_date",
            gxe.UnexpectedRowsExpectation(
                description=f"No move dated after {today.isoformat()}",
                unexpected_rows_query=(
                    "SELECT id, ticker, earnings_date FROM {batch} "
                    f"WHERE substr(earnings_date, 1, 10) > '{today.isoformat()}' ORDER BY earnings_date DESC"
                ),
            ),
            f"move(s) dated after today ({today.isoformat()})",
        ),
        _Spec(
            "move_has_calendar_row",
            hm,
            "ticker, earnings_date",
            gxe.UnexpectedRowsExpectation(
                description="Every move has its earnings_calendar row (ticker, earnings_date)",
                unexpected_rows_query=(
                    "SELECT id, ticker, earnings_date FROM {batch} WHERE (ticker, earnings_date) NOT IN "
                    "(SELECT ticker, earnings_date FROM earnings_calendar) ORDER BY id"
                ),
            ),
            "move(s) without an earnings_calendar row",
        ),
    ]
    specs[cal] += [
        _Spec(
            "timing_values",
            cal,
            "timing",
            gxe.ExpectColumnValuesToBeInSet(column="timing", value_set=list(TIMINGS)),
            f"row(s) with a timing outside {', '.join(TIMINGS)}",
        ),
        _Spec(
            "unique_calendar_event_normalized",
            cal,
            "ticker, earnings_date",
            gxe.UnexpectedRowsExpectation(
                description="One calendar row per event after upper(trim(ticker))",
                unexpected_rows_query=(
                    "SELECT ticker, earnings_date, timing FROM {batch} WHERE (upper(trim(ticker)), earnings_date) "
                    "IN (SELECT upper(trim(ticker)), earnings_date FROM {batch} GROUP BY 1, 2 HAVING count(*) > 1) "
                    "ORDER BY upper(trim(ticker)), earnings_date"
                ),
            ),
            "calendar row(s) duplicate an event once tickers are upper-cased and trimmed",
        ),
    ]
    return specs


def check_raw(
    db_path: Path,
    *,
    today: date | None = None,
    severity: dict[str, str] | None = None,
    snapshot: SourceSnapshot | None = None,
) -> QualityReport:
    """Check the user's 2.0 database; structural faults raise SourceDataError before any expectation runs.

    `snapshot` is the build's own read of the same file (read_source), reused for the distribution checks.
    """
    _check_overrides(severity)
    today = today or date.today()
    db_path = Path(db_path)
    # missing, not SQLite, corrupt or locked file, missing table/column, bad values, NULL keys
    snapshot = snapshot or read_source(db_path)

    context = _context()
    datasource = context.data_sources.add_sqlite(
        name="ivcrush_db", connection_string=_sqlite_url(db_path), create_temp_table=False
    )
    batches = []
    for table, specs in _raw_specs(today).items():
        asset = datasource.add_table_asset(name=table, table_name=table)
        batches.append((asset.add_batch_definition_whole_table("all rows"), None, specs, _INDEX_COLUMNS[table]))
    try:
        checks = _run_suite(context, "raw_tables", batches, severity)
    except (sqlite3.Error, sqlalchemy.exc.SQLAlchemyError) as exc:  # a reader-side failure outside GE's care
        raise SourceDataError(f"database {db_path}: expectations could not run ({exc})") from exc
    finally:
        datasource.get_engine().dispose()  # release the file handle
    checks += distribution_checks(
        snapshot.tables["historical_moves"], snapshot.tables["earnings_calendar"], severity=severity
    )
    return QualityReport(checks, [("raw", context)])


# --------------------------------------------------------------------------------------------------------------
# Distribution checks (pandas): faults no single row shows


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
    severity = _severity(name, table, column, overrides)
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
                f"ticker={r.ticker}, earnings_date={_plain(r.earnings_date)}, close_move_pct={r.close_move_pct:.2f}"
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
    return [", ".join(f"{k}={_plain(v)}" for k, v in row.items()) for row in rows.to_dict("records")]


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


# --------------------------------------------------------------------------------------------------------------
# Feature marts and labels

_ABS_MOVE_COLUMN = re.compile(
    r"^(abs_.*_pct|intraday_range_pct|hm_(close|gap|intraday)_(last|mean|median|std|min|max)(_\w+)?"
    r"|vol_off_reaction_(abs_move|range)_mean_\w+|mkt_mean_abs_move_\w+|opt_implied_move_pct|opt_hist_mean_pct_2_0)$"
)
_RATE_COLUMN = re.compile(
    r"^(.*_rate(_\w+)?|.*_share(_\w+)?|.*_prob(ability)?(_\w+)?|mkt_season_intensity|cal_is_\w+)$"
)
# Features that exist wherever the ticker has a usable prior event (hm_prior_events > 0).
_HISTORY_COLUMNS = {
    "historical_move_features": ["hm_close_last", "hm_close_mean_12q", "hm_gap_last", "hm_intraday_last"],
    "volatility_features": ["vol_up_rate_8q", "vol_log_price_last"],  # range/gap-to-close: NULL where moves are 0
}
_KEY_COLUMNS = ("event_id", "ticker", "event_timestamp")


def _read_marts(build_dir: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for mart in MARTS:
        path = mart_path(build_dir, mart)
        if not path.is_file():
            raise FileNotFoundError(f"build {build_dir}: mart {mart} missing ({path})")
        frames[mart] = pd.read_parquet(path)
    return frames


def _mart_specs(mart: str, frame: pd.DataFrame, events: pd.DataFrame) -> list[_Spec]:
    gxe = _gx().expectations
    from great_expectations.expectations.row_conditions import Column

    specs = [
        _Spec(
            "mart_columns",
            mart,
            None,
            gxe.ExpectTableColumnsToMatchSet(column_set=["event_id"], exact_match=False),
            "event_id column missing",
        ),
        _Spec(
            "mart_one_row_per_event",
            mart,
            "event_id",
            gxe.ExpectColumnValuesToBeUnique(column="event_id"),
            "row(s) share an event_id with another row",
        ),
    ]
    for key in _KEY_COLUMNS:
        if key in frame.columns:
            specs.append(
                _Spec(
                    "mart_keys_not_null",
                    mart,
                    key,
                    gxe.ExpectColumnValuesToNotBeNull(column=key),
                    f"row(s) with NULL {key}",
                )
            )
    if mart == "event_labels":
        n_outcome = int(events["has_outcome"].sum())
        specs += [
            _Spec(
                "labels_match_events",
                mart,
                None,
                gxe.ExpectTableRowCountToEqual(value=n_outcome),
                f"label rows differ from the {n_outcome} events with has_outcome",
            ),
            _Spec(
                "labels_match_events",
                mart,
                "event_id",
                gxe.ExpectColumnValuesToBeInSet(column="_event_has_outcome", value_set=[True]),
                "label row(s) of an event without has_outcome (or unknown to earnings_events)",
            ),
        ]
    elif mart != "earnings_events":
        specs += [
            _Spec(
                "mart_event_ids_match",
                mart,
                None,
                gxe.ExpectTableRowCountToEqual(value=len(events)),
                f"row count differs from the {len(events)} rows of earnings_events",
            ),
            _Spec(
                "mart_event_ids_match",
                mart,
                "event_id",
                gxe.ExpectColumnValuesToBeInSet(column="_event_known", value_set=[True]),
                "row(s) with an event_id that earnings_events does not have",
            ),
        ]
    if "timing" in frame.columns and mart == "earnings_events":
        specs.append(
            _Spec(
                "event_timing_values",
                mart,
                "timing",
                gxe.ExpectColumnValuesToBeInSet(column="timing", value_set=list(TIMINGS)),
                "row(s) with an unknown timing",
            )
        )
    if "hm_prior_events" in frame.columns or mart in _HISTORY_COLUMNS:
        for column in _HISTORY_COLUMNS.get(mart, []):
            if column in frame.columns:
                specs.append(
                    _Spec(
                        "history_features_present",
                        mart,
                        column,
                        gxe.ExpectColumnValuesToNotBeNull(column=column, row_condition=Column("hm_prior_events") > 0),
                        f"row(s) with NULL {column} although hm_prior_events > 0",
                    )
                )
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            continue
        if _ABS_MOVE_COLUMN.match(column):
            specs.append(
                _Spec(
                    "abs_move_range",
                    mart,
                    column,
                    gxe.ExpectColumnValuesToBeBetween(
                        column=column, min_value=0, max_value=ABS_MOVE_MAX, strict_max=True
                    ),
                    f"row(s) with {column} outside [0, {ABS_MOVE_MAX:.0f})",
                )
            )
        elif _RATE_COLUMN.match(column):
            specs.append(
                _Spec(
                    "rate_range",
                    mart,
                    column,
                    gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1),
                    f"row(s) with {column} outside [0, 1]",
                )
            )
    return specs


def check_marts(build_dir: Path, *, severity: dict[str, str] | None = None) -> QualityReport:
    """Check a build's Parquet marts: one row per event, no missing history features, ranges, label counts."""
    _check_overrides(severity)
    build_dir = Path(build_dir)
    frames = _read_marts(build_dir)
    events = frames["earnings_events"]
    known = set(events["event_id"])
    with_outcome = set(events.loc[events["has_outcome"].astype(bool), "event_id"])
    history = frames["historical_move_features"].set_index("event_id")["hm_prior_events"]

    context = _context()
    datasource = context.data_sources.add_pandas("marts")
    batches = []
    for mart, frame in frames.items():
        data = frame.reset_index(drop=True)
        data["_event_known"] = data["event_id"].isin(known)
        data["_event_has_outcome"] = data["event_id"].isin(with_outcome)
        if "hm_prior_events" not in data.columns and mart in _HISTORY_COLUMNS:
            data["hm_prior_events"] = data["event_id"].map(history).fillna(0)
        for column in data.columns:  # GE's pandas backend wants plain datetimes in its renderers
            if isinstance(data[column].dtype, pd.DatetimeTZDtype):
                data[column] = data[column].dt.tz_convert("UTC").dt.tz_localize(None)
        asset = datasource.add_dataframe_asset(mart)
        batches.append(
            (
                asset.add_batch_definition_whole_dataframe("all rows"),
                {"dataframe": data},
                _mart_specs(mart, data, events),
                ["event_id"],
            )
        )
    checks = _run_suite(context, "marts", batches, severity)
    return QualityReport(checks, [("marts", context)])


# --------------------------------------------------------------------------------------------------------------
# Output


def write_report(report: QualityReport, out_dir: Path) -> Path:
    """Write result.json, GE Data Docs (out_dir/data_docs/<suite>/index.html) and summary.html; return the JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    docs: dict[str, str] = {}
    for label, context in report._gx:
        base = out_dir / "data_docs" / label
        context.variables.data_docs_sites = {
            "ivcrush": {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        context.build_data_docs(site_names=["ivcrush"])
        docs[label] = str(base / "index.html")
    payload = {**report.to_dict(), "data_docs": docs, "summary_html": str(out_dir / "summary.html")}
    (out_dir / "summary.html").write_text(_summary_html(report, out_dir, docs))
    path = out_dir / "result.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def _summary_html(report: QualityReport, out_dir: Path, docs: dict[str, str]) -> str:
    rows = []
    for c in sorted(report.checks, key=lambda c: (c.success, c.severity != ERROR, c.suite, c.name)):
        status = "passed" if c.success else ("FAILED" if c.severity == ERROR else "warning")
        rows.append(
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                status.lower(),
                status,
                html.escape(c.suite),
                html.escape(c.name),
                html.escape(c.where),
                c.unexpected_count,
                html.escape(c.message),
                "<br>".join(html.escape(e) for e in c.examples),
            )
        )
    links = "".join(
        f"<li><a href='{html.escape(os.path.relpath(path, out_dir))}'>Great Expectations Data Docs: "
        f"{html.escape(label)}</a></li>"
        for label, path in docs.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ivcrush data quality</title><style>"
        "body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}"
        "table{border-collapse:collapse}.failed{background:#fdd}.warning{background:#ffd}</style></head><body>"
        f"<h1>ivcrush data quality</h1><p>{len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{len(report.checks)} check(s)</p><ul>{links}</ul><table><tr><th>status</th><th>suite</th><th>check</th>"
        "<th>where</th><th>rows</th><th>message</th><th>examples</th></tr>" + "".join(rows) + "</table></body></html>"
    )


def render_summary(report: QualityReport, console: Console) -> None:
    """Short human summary: failed checks (errors, then warnings) with where, how many rows and examples."""
    n = len(report.checks)
    if not report.errors and not report.warnings:
        console.print(f"[green]data quality: all {n} checks passed[/green]")
        return
    head = "[red]data quality: FAILED[/red]" if report.errors else "[yellow]data quality: passed with warnings[/yellow]"
    console.print(f"{head} - {len(report.errors)} error(s), {len(report.warnings)} warning(s), {n} check(s)")
    from rich.markup import escape

    for check in [*report.errors, *report.warnings]:
        style = "red" if check.severity == ERROR else "yellow"
        console.print(
            f"  [{style}]{check.severity}[/{style}] {escape(f'{check.name} ({check.where}): {check.message}')}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        for example in check.examples[:3]:
            console.print(f"      e.g. {example}", markup=False, highlight=False, soft_wrap=True)

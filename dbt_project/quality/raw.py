"""The raw suite: Great Expectations over the tables of the user's 2.0 database, then the distribution checks.

The suite checks one snapshot, the one `ivcrush.source.reader.read_source` read in one transaction (its
precise messages for a missing, foreign, corrupt, locked or malformed file come first): a build passes it the
very snapshot it loads into DuckDB, so a writer during the build can neither slip data past the checks nor
fail them. GE runs its SQL over a private in-memory SQLite copy of that snapshot, with the columns' declared
types as the user's database declares them; the user's file is never opened again.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy

from ivcrush.quality.distribution import distribution_checks
from ivcrush.quality.gx import Spec, ephemeral_context, import_gx, run_suite
from ivcrush.quality.report import QualityReport, check_overrides
from ivcrush.settings import dbt_project_var
from ivcrush.source.reader import SourceDataError, SourceSnapshot, read_source
from ivcrush.source.schema import (
    DECLARED_TYPE_COLUMNS,
    DECLARED_TYPES,
    KEY_COLUMNS,
    PRICE_COLUMNS,
    ROW_LABEL_COLUMNS,
    SOURCE_COLUMNS,
    TIMINGS,
    VOLUME_COLUMNS,
)

MOVE_TOLERANCE_PCT = 0.01  # stored move vs the move recomputed from the OHLC, in percentage points
_DECLARED_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*(\([0-9, ]*\))?$")


def _sql_values(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    """The frame's rows as SQLite values: dates as YYYY-MM-DD text, missing values as NULL."""
    columns = {}
    for name, column in frame.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            column = column.dt.strftime("%Y-%m-%d")
        columns[name] = column.astype(object).where(column.notna(), None)
    return list(zip(*columns.values(), strict=True)) if columns else []


@contextmanager
def snapshot_database(snapshot: SourceSnapshot) -> Iterator[str]:
    """A private in-memory SQLite database holding the snapshot's tables; yields its SQLAlchemy URL."""
    uri = f"file:ivcrush-snapshot-{uuid.uuid4().hex}?mode=memory&cache=shared"
    keeper = sqlite3.connect(uri, uri=True)  # the shared in-memory database lives while this is open
    try:
        for table, frame in snapshot.tables.items():
            declared = snapshot.declared_types.get(table, {})
            columns = ", ".join(
                f'"{c}" {declared.get(c, "") if _DECLARED_TYPE.fullmatch(declared.get(c, "")) else ""}'.rstrip()
                for c in frame.columns
            )
            keeper.execute(f'CREATE TABLE "{table}" ({columns})')
            marks = ", ".join("?" * len(frame.columns))
            keeper.executemany(f'INSERT INTO "{table}" VALUES ({marks})', _sql_values(frame))
        keeper.commit()
        yield f"sqlite:///{uri}&uri=true"
    finally:
        keeper.close()


def _raw_specs(today: date) -> dict[str, list[Spec]]:
    """The raw suite's expectations for each source table."""
    gxe = import_gx().expectations
    hm, cal = "historical_moves", "earnings_calendar"
    window = int(dbt_project_var("duplicate_event_window_days"))
    specs: dict[str, list[Spec]] = {table: [] for table in SOURCE_COLUMNS}
    for table, columns in SOURCE_COLUMNS.items():
        specs[table].append(
            Spec(
                "required_columns",
                table,
                None,
                gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False),
                "required column(s) missing",
            )
        )
        for key in KEY_COLUMNS[table]:
            specs[table].append(
                Spec(
                    "keys_not_null",
                    table,
                    key,
                    gxe.ExpectColumnValuesToNotBeNull(column=key),
                    f"row(s) with NULL {key}",
                )
            )
    for table, typed_columns in DECLARED_TYPE_COLUMNS.items():
        for column in typed_columns:
            kind = SOURCE_COLUMNS[table][column]
            if kind == "date":  # GE cannot match SQLite's reflected DATE; read_source checks every value instead
                continue
            specs[table].append(
                Spec(
                    "column_types",
                    table,
                    column,
                    gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=list(DECLARED_TYPES[kind])),
                    f"{column} is not declared as a {kind} column",
                )
            )
    specs[hm] += [
        Spec(
            "unique_event",
            hm,
            "ticker, earnings_date",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["ticker", "earnings_date"]),
            "row(s) share (ticker, earnings_date) with another row",
        ),
        Spec(
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
            Spec(
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
            Spec(
                "ohlc_consistent",
                hm,
                f"{high} >= {low}",
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=high, column_B=low, or_equal=True),
                f"row(s) with {high} < {low}",
            )
        )
    for column in VOLUME_COLUMNS:
        specs[hm].append(
            Spec(
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
            Spec(
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
        Spec(
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
        Spec(
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
        Spec(
            "timing_values",
            cal,
            "timing",
            gxe.ExpectColumnValuesToBeInSet(column="timing", value_set=list(TIMINGS)),
            f"row(s) with a timing outside {', '.join(TIMINGS)}",
        ),
        Spec(
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
        Spec(
            "calendar_timing_conflict",
            cal,
            "timing",
            gxe.UnexpectedRowsExpectation(
                description=(
                    f"The calendar rows of one event (a ticker's rows less than {window} days apart, collapsed "
                    "into one event by the build) agree on its known timing (BMO, AMC, DMH)"
                ),
                unexpected_rows_query=_timing_conflict_query(window),
            ),
            f"calendar row(s) of one event (rows less than {window} days apart) with different timings; the "
            "build keeps the confirmed, most recently updated row and marks the event's label untrusted",
        ),
    ]
    return specs


def _timing_conflict_query(window: int) -> str:
    """The calendar rows of events whose rows disagree on a known timing, clustered as the dbt build does
    (int_earnings_events_deduplicated: a row less than `window` days after the previous one joins its event)."""
    return f"""
        WITH named AS (
            SELECT upper(trim(ticker)) AS ticker, substr(earnings_date, 1, 10) AS earnings_date,
                upper(trim(timing)) AS timing
            FROM {{batch}}
        ),
        flagged AS (
            SELECT *, CASE WHEN julianday(earnings_date)
                - julianday(lag(earnings_date) OVER (PARTITION BY ticker ORDER BY earnings_date)) < {window}
                THEN 0 ELSE 1 END AS starts_new_event
            FROM named
        ),
        clustered AS (
            SELECT *, sum(starts_new_event) OVER (
                PARTITION BY ticker ORDER BY earnings_date ROWS UNBOUNDED PRECEDING) AS event_number
            FROM flagged
        ),
        conflicting AS (
            SELECT ticker, event_number FROM clustered WHERE timing IN ('BMO', 'AMC', 'DMH')
            GROUP BY ticker, event_number HAVING count(DISTINCT timing) > 1
        )
        SELECT ticker, earnings_date, timing FROM clustered
        WHERE (ticker, event_number) IN (SELECT ticker, event_number FROM conflicting)
        ORDER BY ticker, earnings_date
    """


def check_raw(
    db_path: Path,
    *,
    today: date | None = None,
    severity: dict[str, str] | None = None,
    snapshot: SourceSnapshot | None = None,
) -> QualityReport:
    """Check one snapshot of the user's 2.0 database: `snapshot` where given (the build's own read), else one
    read here; structural faults raise SourceDataError before any expectation runs."""
    check_overrides(severity)
    today = today or date.today()
    db_path = Path(db_path)
    # missing, not SQLite, corrupt or locked file, missing table/column, bad values, NULL keys
    snapshot = snapshot or read_source(db_path)

    context = ephemeral_context()
    with snapshot_database(snapshot) as url:
        datasource = context.data_sources.add_sqlite(name="ivcrush_db", connection_string=url, create_temp_table=False)
        batches = []
        for table, specs in _raw_specs(today).items():
            asset = datasource.add_table_asset(name=table, table_name=table)
            batches.append(
                (asset.add_batch_definition_whole_table("all rows"), None, specs, list(ROW_LABEL_COLUMNS[table]))
            )
        try:
            checks = run_suite(context, "raw_tables", batches, severity)
        except (sqlite3.Error, sqlalchemy.exc.SQLAlchemyError) as exc:  # a failure outside GE's care
            raise SourceDataError(f"database {db_path}: expectations could not run ({exc})") from exc
        finally:
            datasource.get_engine().dispose()
    checks += distribution_checks(
        snapshot.tables["historical_moves"], snapshot.tables["earnings_calendar"], severity=severity
    )
    return QualityReport(checks, [("raw", context)])

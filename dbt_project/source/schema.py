"""The 2.0 source schema, declared once: the tables and columns the platform reads, their kinds, keys and values.

The reader (`ivcrush.source.reader`), the quality suites (`ivcrush.quality`) and the sample generator
(`ivcrush.source.sample`) take their tables, columns and value sets from here; 2.0's full DDL lives beside
this module in `schema_2_0.sql` (`ddl_statements()`). tests/test_source_schema.py checks this module against
that DDL, against the dbt sources (`models/staging/_ivcrush__sources.yml`) and against the real snapshot.
"""

from __future__ import annotations

import sqlite3
from importlib import resources

DDL_FILE = "schema_2_0.sql"

# Source tables and the columns the platform reads, with the kind of value each must hold.
# "date" columns hold ISO dates (YYYY-MM-DD); "timestamp" columns free-form text timestamps.
SOURCE_COLUMNS: dict[str, dict[str, str]] = {
    "historical_moves": {
        "id": "integer",
        "ticker": "text",
        "earnings_date": "date",
        "prev_close": "real",
        "earnings_open": "real",
        "earnings_high": "real",
        "earnings_low": "real",
        "earnings_close": "real",
        "intraday_move_pct": "real",
        "gap_move_pct": "real",
        "close_move_pct": "real",
        "volume_before": "integer",
        "volume_earnings": "integer",
    },
    "earnings_calendar": {
        "ticker": "text",
        "earnings_date": "date",
        "timing": "text",
        "confirmed": "integer",
        "updated_at": "timestamp",
    },
    "trade_journal": {
        "id": "integer",
        "symbol": "text",
        "acquired_date": "date",
        "sale_date": "date",
        "days_held": "integer",
        "option_type": "text",
        "strike": "real",
        "expiration": "date",
        "quantity": "real",
        "cost_basis": "real",
        "proceeds": "real",
        "gain_loss": "real",
        "is_winner": "integer",
        "term": "text",
        "wash_sale_amount": "real",
        "earnings_date": "date",
    },
    "iv_log": {
        "id": "integer",
        "ticker": "text",
        "earnings_date": "date",
        "expiration": "date",
        "scan_date": "date",
        "stock_price": "real",
        "atm_strike": "real",
        "call_mid": "real",
        "put_mid": "real",
        "straddle_cost": "real",
        "implied_move_pct": "real",
        "historical_mean_pct": "real",
        "historical_median_pct": "real",
        "historical_std_pct": "real",
        "vrp_ratio": "real",
        "recommendation": "text",
        "quarters_of_data": "integer",
        "created_at": "timestamp",
    },
}
# The columns that identify a row (never NULL); a row is named in messages by its id (where the table has one)
# and these.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "historical_moves": ("ticker", "earnings_date"),
    "earnings_calendar": ("ticker", "earnings_date"),
    "trade_journal": ("symbol", "sale_date"),
    "iv_log": ("ticker", "earnings_date", "scan_date"),
}
ROW_LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    table: (*(("id",) if "id" in columns else ()), *KEY_COLUMNS[table]) for table, columns in SOURCE_COLUMNS.items()
}

# earnings_calendar.timing: 2.0's accepted values (its CHECK constraint), in the order the sample codes them.
TIMINGS = ("BMO", "AMC", "DMH", "UNKNOWN")
PRICE_COLUMNS = ("prev_close", "earnings_open", "earnings_high", "earnings_low", "earnings_close")
MOVE_COLUMNS = ("close_move_pct", "gap_move_pct", "intraday_move_pct")  # absolute moves in percent
VOLUME_COLUMNS = ("volume_before", "volume_earnings")

# The columns whose declared SQLite type the raw quality suite checks (their kinds are in SOURCE_COLUMNS).
DECLARED_TYPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "historical_moves": ("ticker", "earnings_date", *PRICE_COLUMNS, *MOVE_COLUMNS, *VOLUME_COLUMNS),
    "earnings_calendar": ("ticker", "earnings_date", "timing", "confirmed"),
}
# Declared SQLite types accepted for each kind of column (SQLAlchemy's reflected type names).
DECLARED_TYPES: dict[str, tuple[str, ...]] = {
    "integer": ("INTEGER", "BIGINT", "SMALLINT", "BOOLEAN", "NUMERIC"),
    "real": ("REAL", "FLOAT", "DOUBLE", "DOUBLE_PRECISION", "NUMERIC", "DECIMAL", "INTEGER"),
    "text": ("TEXT", "VARCHAR", "CHAR", "NVARCHAR", "CLOB", "STRING"),
}


def ddl_statements() -> list[str]:
    """The statements of schema_2_0.sql in order, each without its `;` and the comment lines before it."""
    text = resources.files("ivcrush.source").joinpath(DDL_FILE).read_text(encoding="utf-8")
    statements: list[str] = []
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if not lines and (not line.strip() or line.startswith("--")):
            continue  # blank lines and comments between statements
        lines.append(line)
        statement = "".join(lines)
        if sqlite3.complete_statement(statement):
            statements.append(statement.rstrip()[:-1].rstrip("\n"))
            lines = []
    if lines:
        raise ValueError(f"{DDL_FILE}: unterminated statement at its end: {''.join(lines)[:80]!r}")
    return statements

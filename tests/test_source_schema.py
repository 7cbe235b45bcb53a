"""The 2.0 source schema is declared once (ivcrush.source.schema): the DDL file, the dbt sources and the real
snapshot agree with it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import duckdb
import pytest
import yaml

from ivcrush.build import load_raw
from ivcrush.settings import DBT_PROJECT_DIR
from ivcrush.source.reader import read_source, readonly_uri
from ivcrush.source.schema import (
    DECLARED_TYPE_COLUMNS,
    DECLARED_TYPES,
    KEY_COLUMNS,
    MOVE_COLUMNS,
    PRICE_COLUMNS,
    ROW_LABEL_COLUMNS,
    SOURCE_COLUMNS,
    TIMINGS,
    VOLUME_COLUMNS,
    ddl_statements,
)
from tests.conftest import folder_state

SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "_ivcrush__sources.yml"
# Declared SQLite types of the kinds that DECLARED_TYPES does not list.
OTHER_DECLARED_TYPES = {"date": ("DATE",), "timestamp": ("DATETIME",)}


@pytest.fixture(scope="module")
def ddl_db() -> Iterator[sqlite3.Connection]:
    """An in-memory database made from schema_2_0.sql."""
    con = sqlite3.connect(":memory:")
    for statement in ddl_statements():
        con.execute(statement)
    yield con
    con.close()


def _table_info(con: sqlite3.Connection, table: str) -> dict[str, tuple[str, bool]]:
    """Column -> (declared type, NOT NULL) of one table."""
    return {row[1]: (row[2].upper(), bool(row[3])) for row in con.execute(f'PRAGMA table_info("{table}")')}


def _tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def _assert_declares_the_schema(con: sqlite3.Connection) -> None:
    """Every source table and column exists with a declared type of its kind; keys are NOT NULL."""
    for table, columns in SOURCE_COLUMNS.items():
        info = _table_info(con, table)
        assert info, f"table {table} missing"
        for column, kind in columns.items():
            assert column in info, f"{table}.{column} missing"
            declared, _ = info[column]
            accepted = DECLARED_TYPES.get(kind) or OTHER_DECLARED_TYPES[kind]
            assert declared in accepted, f"{table}.{column} is declared {declared}, not as {kind}"
        for key in KEY_COLUMNS[table]:
            assert info[key][1], f"key {table}.{key} may be NULL in the DDL"


def test_declarations_are_consistent() -> None:
    assert set(KEY_COLUMNS) == set(ROW_LABEL_COLUMNS) == set(SOURCE_COLUMNS)
    for table, columns in ROW_LABEL_COLUMNS.items():
        assert set(columns) <= set(SOURCE_COLUMNS[table]), table
    for table, columns in DECLARED_TYPE_COLUMNS.items():
        assert set(columns) <= set(SOURCE_COLUMNS[table]), table
    hm = SOURCE_COLUMNS["historical_moves"]
    assert {hm[c] for c in (*PRICE_COLUMNS, *MOVE_COLUMNS)} == {"real"}
    assert {hm[c] for c in VOLUME_COLUMNS} == {"integer"}
    assert set(OTHER_DECLARED_TYPES) | set(DECLARED_TYPES) == {k for c in SOURCE_COLUMNS.values() for k in c.values()}


def test_ddl_file_declares_the_schema(ddl_db: sqlite3.Connection) -> None:
    _assert_declares_the_schema(ddl_db)
    assert ddl_db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 3


def test_ddl_accepts_exactly_the_timings(ddl_db: sqlite3.Connection) -> None:
    insert = "INSERT INTO earnings_calendar (ticker, earnings_date, timing) VALUES ('X', ?, ?)"
    try:
        for timing in TIMINGS:
            ddl_db.execute(insert, (timing, timing))
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            ddl_db.execute(insert, ("PRE", "PRE"))
    finally:
        ddl_db.rollback()


def test_dbt_sources_declare_the_schema() -> None:
    (source,) = yaml.safe_load(SOURCES_YML.read_text())["sources"]
    assert source["name"] == "ivcrush" and source["schema"] == "raw"
    declared = {table["name"]: [c["name"] for c in table.get("columns", [])] for table in source["tables"]}
    assert declared == {table: list(columns) for table, columns in SOURCE_COLUMNS.items()}


def test_dbt_source_types_are_those_the_build_loads(sample_db: Path, tmp_path: Path) -> None:
    """The data_type of each source column is the DuckDB type `load_raw` gives it in schema raw."""
    warehouse = tmp_path / "warehouse.duckdb"
    load_raw(read_source(sample_db), warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = {
            (table, column): data_type.lower()
            for table, column, data_type in con.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'raw'"
            ).fetchall()
        }
    (source,) = yaml.safe_load(SOURCES_YML.read_text())["sources"]
    declared = {(t["name"], c["name"]): c["data_type"] for t in source["tables"] for c in t["columns"]}
    assert declared == loaded


@pytest.mark.real_snapshot
def test_real_snapshot_has_the_schema_of_the_ddl_file(real_snapshot: Path, ddl_db: sqlite3.Connection) -> None:
    before = folder_state(real_snapshot.parent)
    with closing(sqlite3.connect(readonly_uri(real_snapshot), uri=True)) as real:
        _assert_declares_the_schema(real)
        assert _tables(real) == _tables(ddl_db)
        for table in _tables(real):
            assert _table_info(real, table) == _table_info(ddl_db, table), table
    assert folder_state(real_snapshot.parent) == before

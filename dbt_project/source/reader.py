"""Read the trader's 2.0 database safely: read-only, one consistent snapshot, untrusted input checked.

The tables and columns read are those declared in `ivcrush.source.schema`. The database is opened with
SQLite's `mode=ro` URI and every table is read inside one read transaction: in WAL mode that is a
consistent snapshot even while 2.0 keeps writing. Where no writer is active (no `-wal` or `-journal` file
beside the database) it is opened `immutable`, because a read-only connection to a WAL database would
otherwise create `-wal`/`-shm` files in the user's folder; if a writer appears during the read, the read is
repeated through the writer's WAL. The tables are copied into the build's DuckDB file (schema `raw`), which
dbt reads as its source. No DuckDB extension is needed, so nothing reaches for the network.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.source.schema import KEY_COLUMNS, SOURCE_COLUMNS

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 5.0
EXAMPLES = 3


class SourceDataError(IvcrushError):
    """The user's database cannot be read as a 2.0 database; the message says where and why."""


@dataclass(frozen=True)
class SourceSnapshot:
    """The source tables as read in one transaction, and a fingerprint of their content."""

    path: Path
    tables: dict[str, pd.DataFrame]
    fingerprint: str
    read_seconds: float


def writer_active(path: Path) -> bool:
    """True where a writer's WAL or rollback journal lies beside the database."""
    return any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))


def readonly_uri(path: Path, immutable: bool = True) -> str:
    """SQLite URI that opens `path` read-only; `immutable` also creates no -wal/-shm file beside it."""
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=ro"
    return f"{uri}&immutable=1" if immutable else uri


def _file_state(path: Path) -> tuple[int, int, bool]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, writer_active(path)


def connect_readonly(path: Path, immutable: bool | None = None) -> sqlite3.Connection:
    """Open the user's database read-only after checking that it is a SQLite file at all."""
    path = Path(path)
    if not path.exists():
        raise SourceDataError(f"database {path}: no such file")
    if not path.is_file():
        raise SourceDataError(f"database {path}: not a file")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise SourceDataError(f"database {path}: not a SQLite database (file header is {header[:16]!r})")
    if immutable is None:
        immutable = not writer_active(path)
    try:
        con = sqlite3.connect(readonly_uri(path, immutable), uri=True, timeout=BUSY_TIMEOUT_S)
        con.execute("PRAGMA query_only = ON")
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SourceDataError(f"database {path}: cannot be read ({exc})") from exc
    return con


def _examples(frame: pd.DataFrame, mask: pd.Series, keys: tuple[str, ...]) -> str:
    rows = frame.loc[mask, [c for c in ("id", *keys) if c in frame.columns]].head(EXAMPLES)
    return "; ".join(", ".join(f"{k}={v!r}" for k, v in row.items()) for row in rows.to_dict("records"))


def _typed(table: str, frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    """Column converted to its kind; text where a number or date belongs is an error, not a NULL."""
    values = frame[column]
    keys = KEY_COLUMNS[table]
    if kind in {"integer", "real"}:
        converted = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & converted.isna()
        if bad.any():
            raise SourceDataError(
                f"{table}.{column}: {int(bad.sum())} row(s) hold non-numeric values where a number is "
                f"expected, e.g. {_examples(frame, bad, keys)} (value {values[bad].iloc[0]!r})"
            )
        if kind == "integer":
            fractional = converted.notna() & converted.mod(1).ne(0)
            if fractional.any():
                raise SourceDataError(
                    f"{table}.{column}: {int(fractional.sum())} row(s) hold fractions where an integer is "
                    f"expected, e.g. {_examples(frame, fractional, keys)}"
                )
            return converted.astype("Int64")
        return converted.astype("float64")
    if kind == "date":
        text = values.astype("string").str.slice(0, 10)
        converted = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        bad = values.notna() & converted.isna()
        if bad.any():
            raise SourceDataError(
                f"{table}.{column}: {int(bad.sum())} row(s) do not hold a YYYY-MM-DD date, "
                f"e.g. {_examples(frame, bad, keys)} (value {values[bad].iloc[0]!r})"
            )
        return converted
    return values.astype("string")


def _read_table(con: sqlite3.Connection, table: str, columns: dict[str, str]) -> pd.DataFrame:
    present = {row[1]: row[2] for row in con.execute(f'PRAGMA table_info("{table}")')}
    if not present:
        raise SourceDataError(f"table {table}: missing from the database (a 2.0 database has it)")
    missing = [c for c in columns if c not in present]
    if missing:
        raise SourceDataError(f"table {table}: column(s) {', '.join(missing)} missing; it has {', '.join(present)}")
    select = ", ".join(f'"{c}"' for c in columns)
    frame = pd.read_sql_query(f'SELECT {select} FROM "{table}"', con)
    for key in KEY_COLUMNS[table]:
        nulls = frame[key].isna()
        if nulls.any():
            raise SourceDataError(
                f"{table}.{key}: {int(nulls.sum())} row(s) have a NULL key, e.g. {_examples(frame, nulls, ())}"
            )
    for column, kind in columns.items():
        frame[column] = _typed(table, frame, column, kind)
    return frame


def read_source(path: Path) -> SourceSnapshot:
    """Read every source table of the 2.0 database at `path` in one read-only transaction."""
    started = time.perf_counter()
    path = Path(path)
    tables = _read_consistent(path)
    digest = hashlib.sha256()
    for table, frame in tables.items():
        digest.update(table.encode())
        digest.update(pd.util.hash_pandas_object(frame.astype("string"), index=False).values.tobytes())
    return SourceSnapshot(path, tables, digest.hexdigest()[:16], time.perf_counter() - started)


def _read_consistent(path: Path) -> dict[str, pd.DataFrame]:
    """Read immutably while no writer is about; through the writer's WAL if one is or appears."""
    connect_readonly(path).close()  # a missing or non-SQLite file gets its precise message first
    state = _file_state(path)
    tables = _read_tables(connect_readonly(path), path)
    if state[2] or _file_state(path) == state:
        return tables
    return _read_tables(connect_readonly(path, immutable=False), path)


def _read_tables(con: sqlite3.Connection, path: Path) -> dict[str, pd.DataFrame]:
    try:
        con.execute("BEGIN")  # one read transaction: a consistent snapshot under WAL
        tables = {table: _read_table(con, table, columns) for table, columns in SOURCE_COLUMNS.items()}
        con.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise SourceDataError(
                f"database {path}: locked by another process for more than {BUSY_TIMEOUT_S:.0f} s ({exc}); "
                "try again when the writer has finished"
            ) from exc
        raise SourceDataError(f"database {path}: cannot be read ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        raise SourceDataError(f"database {path}: cannot be read ({exc})") from exc
    finally:
        con.close()
    return tables

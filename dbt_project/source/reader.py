"""Read the trader's 2.0 database safely: read-only, one consistent snapshot, untrusted input checked.

The tables and columns read are those declared in `ivcrush.source.schema`, all inside one read transaction,
and nothing is ever created beside the file. How depends on its journal mode (byte 18 of its header):
- rollback journal: `mode=ro` with SQLite's locks, which keep a writer from committing during the read
  (and a crashed writer's hot journal is reported, since only a writer may roll it back);
- WAL with a writer about (`-wal` and `-shm` beside it): `mode=ro` through the writer's WAL, a consistent
  snapshot while 2.0 keeps writing;
- WAL without a writer: `immutable`, since a read-only connection would create `-wal`/`-shm` in the user's
  folder, while a shared lock on the file (as any SQLite reader holds) keeps a writer that appears from
  removing its WAL; a WAL found beside the file afterwards means the read is repeated through it;
- a WAL copied without its `-shm`: from a private copy of both, which SQLite may recover.
The typed tables are copied into the build's DuckDB file (schema `raw`), which dbt reads as its source.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.source.schema import KEY_COLUMNS, SOURCE_COLUMNS

SQLITE_HEADER = b"SQLite format 3\x00"
WAL_FORMAT = 2  # header byte 18 (file format write version): 1 rollback journal, 2 WAL
BUSY_TIMEOUT_S = 5.0
READ_RETRY_FIRST_S = 0.01  # a busy writer's checkpoint holds the file briefly: retry, backing off, up to BUSY_TIMEOUT_S
EXAMPLES = 3
# SQLite's lock bytes (os_unix.c): a reader holds a read lock on the SHARED range, a writer needs it exclusively
# to checkpoint and delete its WAL or to change the journal mode.
SHARED_FIRST = 0x40000000 + 2
SHARED_SIZE = 510

Tables = dict[str, pd.DataFrame]
DeclaredTypes = dict[str, dict[str, str]]


class SourceDataError(IvcrushError):
    """The user's database cannot be read as a 2.0 database; the message says where and why."""


@dataclass(frozen=True)
class SourceSnapshot:
    """The source tables as read in one transaction, and a fingerprint of their content."""

    path: Path
    tables: Tables
    fingerprint: str
    read_seconds: float
    declared_types: DeclaredTypes = field(default_factory=dict)  # table -> column -> declared SQLite type


def readonly_uri(path: Path, immutable: bool = True) -> str:
    """SQLite URI that opens `path` read-only; `immutable` also creates no -wal/-shm file beside it."""
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=ro"
    return f"{uri}&immutable=1" if immutable else uri


def companion(path: Path, suffix: str) -> Path:
    """The `-wal`, `-shm` or `-journal` file of a database."""
    return Path(f"{path}{suffix}")


def _header(path: Path) -> bytes:
    """The database header, after checking that `path` is a SQLite file at all."""
    if not path.exists():
        raise SourceDataError(f"database {path}: no such file")
    if not path.is_file():
        raise SourceDataError(f"database {path}: not a file")
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise SourceDataError(f"database {path}: cannot be opened ({exc.strerror})") from exc
    if header[: len(SQLITE_HEADER)] != SQLITE_HEADER:
        raise SourceDataError(f"database {path}: not a SQLite database (file header is {header[:16]!r})")
    return header


def _text(value: bytes) -> str | bytes:
    """SQLite text as str; bytes that are not UTF-8 stay bytes and are refused with their table and column."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _connect(path: Path, immutable: bool) -> sqlite3.Connection:
    """Open the user's database read-only (its header already checked) and read its schema."""
    try:
        con = sqlite3.connect(readonly_uri(path, immutable), uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise _read_error(path, exc) from exc
    con.text_factory = _text
    try:
        con.execute("PRAGMA query_only = ON")
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        con.close()
        raise _read_error(path, exc) from exc
    return con


def _read_error(path: Path, exc: BaseException) -> SourceDataError:
    """The message for a failed read: locked, a crashed writer's journal, or damaged."""
    text = str(exc)
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK":
        return SourceDataError(
            f"database {path}: a writer stopped in the middle of a transaction and left its rollback journal "
            f"{companion(path, '-journal').name} beside it; open the database once with 2.0 (or sqlite3) so that "
            "SQLite rolls the transaction back, then try again"
        )
    if "locked" in text or "busy" in text:
        return SourceDataError(
            f"database {path}: locked by another process for more than {BUSY_TIMEOUT_S:.0f} s ({text}); "
            "try again when the writer has finished"
        )
    return SourceDataError(f"database {path}: cannot be read ({text.splitlines()[0] if text else type(exc).__name__})")


def _examples(frame: pd.DataFrame, mask: pd.Series, keys: tuple[str, ...]) -> str:
    rows = frame.loc[mask, [c for c in ("id", *keys) if c in frame.columns]].head(EXAMPLES)
    return "; ".join(", ".join(f"{k}={v!r}" for k, v in row.items()) for row in rows.to_dict("records"))


def _typed(table: str, frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    """Column converted to its kind; text where a number or date belongs is an error, not a NULL."""
    values = frame[column]
    keys = KEY_COLUMNS[table]
    binary = values.map(lambda v: isinstance(v, bytes)) if values.dtype == object else None
    if binary is not None and binary.any():
        raise SourceDataError(
            f"{table}.{column}: {int(binary.sum())} row(s) hold binary data (a BLOB or text that is not UTF-8), "
            f"e.g. {_examples(frame.assign(**{column: values.map(repr)}), binary, keys)}"
        )
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


def _read_table(con: sqlite3.Connection, table: str, columns: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    present = {row[1]: str(row[2]) for row in con.execute(f'PRAGMA table_info("{table}")')}
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
    return frame, {column: present[column] for column in columns}


def tables_of(con: sqlite3.Connection, path: Path) -> tuple[Tables, DeclaredTypes]:
    """Every source table through `con`, in the caller's transaction, typed and checked."""
    tables, declared = {}, {}
    try:
        for table, columns in SOURCE_COLUMNS.items():
            tables[table], declared[table] = _read_table(con, table, columns)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        raise _read_error(path, exc.__cause__ or exc) from exc
    return tables, declared


def fingerprint(tables: Tables) -> str:
    """A digest of the tables' content: equal for equal data, whatever file or journal holds them."""
    digest = hashlib.sha256()
    for table, frame in tables.items():
        digest.update(table.encode())
        digest.update(pd.util.hash_pandas_object(frame.astype("string"), index=False).values.tobytes())
    return digest.hexdigest()[:16]


def read_source(path: Path) -> SourceSnapshot:
    """Read every source table of the 2.0 database at `path` in one read-only transaction."""
    started = time.perf_counter()
    path = Path(path)
    tables, declared = _read_consistent(path)
    return SourceSnapshot(path, tables, fingerprint(tables), time.perf_counter() - started, declared)


def _transaction(con: sqlite3.Connection, path: Path) -> tuple[Tables, DeclaredTypes]:
    """All tables in one read transaction of `con`."""
    try:
        con.execute("BEGIN")
        read = tables_of(con, path)
        con.execute("COMMIT")
    except sqlite3.Error as exc:
        raise _read_error(path, exc) from exc
    return read


def _in_transaction(con: sqlite3.Connection, path: Path) -> tuple[Tables, DeclaredTypes]:
    """All tables in one read transaction of `con`, which is closed afterwards."""
    try:
        return _transaction(con, path)
    finally:
        con.close()


def _read_consistent(path: Path) -> tuple[Tables, DeclaredTypes]:
    """One consistent read, by the way the database's journal mode and companion files call for."""
    deadline, pause, attempts = time.monotonic() + BUSY_TIMEOUT_S, READ_RETRY_FIRST_S, 0
    while True:
        if _header(path)[18] != WAL_FORMAT:
            return _in_transaction(_connect(path, immutable=False), path)
        read = _read_wal_database(path)
        attempts += 1
        if read is not None:
            return read
        if time.monotonic() + pause > deadline:
            raise SourceDataError(
                f"database {path}: a writer kept it busy during {attempts} attempts to read it over "
                f"{BUSY_TIMEOUT_S:g} s; try again when the writer has finished"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _state(path: Path) -> tuple[object, ...]:
    """What changes when anything writes the database or its WAL."""
    stat = path.stat()
    companions = tuple(companion(path, s).exists() for s in ("-wal", "-shm", "-journal"))
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, companions


def _writer_files(path: Path) -> tuple[bool, bool]:
    return companion(path, "-wal").exists(), companion(path, "-shm").exists()


def _read_wal_database(path: Path) -> tuple[Tables, DeclaredTypes] | None:
    """Read a WAL database while holding a reader's shared lock on it, which keeps a writer from removing its
    WAL: through the writer's WAL where one is beside the file, else immutably. None: try again.

    No other descriptor of the file may be opened and closed meanwhile: closing one drops the process's locks.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise SourceDataError(f"database {path}: cannot be opened ({exc.strerror})") from exc
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, SHARED_SIZE, SHARED_FIRST, os.SEEK_SET)
        except OSError:
            return None  # a writer holds the file exclusively (checkpointing its WAL away)
        wal, shm = _writer_files(path)
        if wal and shm:
            return _in_transaction(_connect(path, immutable=False), path)
        if wal:
            return _read_private_copy(path)
        return _read_immutable(path)
    finally:
        os.close(fd)


def _read_immutable(path: Path) -> tuple[Tables, DeclaredTypes] | None:
    """Read immutably (the caller holds the shared lock); where a writer appeared meanwhile, read again through
    its WAL, which the lock keeps in place. None where its files are not both there yet."""
    before = _state(path)
    con = _connect(path, immutable=True)
    try:  # the connection stays open: closing its descriptor would drop the lock
        read = _transaction(con, path)
        if _state(path) == before:
            return read
        if _writer_files(path) == (True, True):
            return _in_transaction(_connect(path, immutable=False), path)
        return None
    finally:
        con.close()


def _read_private_copy(path: Path) -> tuple[Tables, DeclaredTypes] | None:
    """A WAL without its `-shm` (no writer can be about): read a private copy of both, which SQLite recovers."""
    before = _state(path)
    wal = companion(path, "-wal")
    folder = Path(tempfile.mkdtemp(prefix="ivcrush-read-"))
    try:
        copy = folder / "source.db"
        try:
            shutil.copyfile(path, copy)
            shutil.copyfile(wal, companion(copy, "-wal"))
        except FileNotFoundError:
            return None  # the WAL went away meanwhile
        except OSError as exc:
            raise SourceDataError(f"database {path}: cannot copy it with its WAL to read it ({exc})") from exc
        if _state(path) != before:
            return None
        try:
            con = sqlite3.connect(copy, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise _read_error(path, exc) from exc
        con.text_factory = _text
        return _in_transaction(con, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

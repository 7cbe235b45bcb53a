"""Property-based fuzzing (hypothesis, derandomized): CLI arguments, implied-move CSVs and database content end
in success or a clear message (an IvcrushError, exit code 1 or 2), never in a traceback."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

hypothesis = pytest.importorskip(
    "hypothesis", reason="hypothesis is not installed (pin it in requirements.lock to run the fuzz tests)"
)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from ivcrush.cli.app import app  # noqa: E402
from ivcrush.errors import IvcrushError  # noqa: E402
from ivcrush.feature_repo.materialize import materialize  # noqa: E402
from ivcrush.serving.implied import implied_from_csv  # noqa: E402
from ivcrush.settings import Settings  # noqa: E402
from ivcrush.source.reader import read_source  # noqa: E402
from ivcrush.source.sample import write_sample_db  # noqa: E402
from ivcrush.source.schema import SOURCE_COLUMNS  # noqa: E402
from ivcrush.training.release import train_and_register  # noqa: E402
from ivcrush.workspace import mart_path  # noqa: E402

FUZZ = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TRIED: dict[str, int] = {}
EXITS: dict[str, int] = {}

CELLS = st.one_of(
    st.sampled_from(["", "NA", "nan", "inf", "-inf", "-1", "0", "1e308", "5.1", "AAPL", "aapl", "A;DROP", "é", " "]),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
COLUMNS = st.lists(
    st.sampled_from(["ticker", "implied_move_pct", "straddle", "spot", "Ticker ", "price", "", "ticker"]),
    min_size=1,
    max_size=5,
)


def _count(name: str) -> None:
    TRIED[name] = TRIED.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"fuzz inputs tried: {sum(TRIED.values())} {TRIED}; CLI exit codes {EXITS}")


@FUZZ
@given(columns=COLUMNS, rows=st.lists(st.lists(CELLS, min_size=0, max_size=6), max_size=5), raw=st.binary(max_size=40))
def test_implied_moves_csv(columns: list[str], rows: list[list[str]], raw: bytes) -> None:
    _count("csv")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "moves.csv"
        text = "\n".join([",".join(columns), *(",".join(cell.replace("\n", " ") for cell in row) for row in rows)])
        path.write_bytes(text.encode("utf-8", "surrogatepass") + (raw if len(rows) % 2 else b""))
        try:
            implied = implied_from_csv(path)
        except IvcrushError:
            return
        assert implied["implied_move_pct"].between(0, 50, inclusive="right").all()
        assert implied["ticker"].is_unique


# --- database content --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz-db") / "ivcrush.db"
    write_sample_db(path, tickers=3, years=2, seed=4)
    return path


VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.sampled_from(["2024-02-30", "2024-13-01", "24-01-01", "2024-01-01T99", "", "0", "1e400"]),
)


@FUZZ
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(sorted(SOURCE_COLUMNS)), st.integers(0, 30), VALUES, st.integers(0, 40)),
        min_size=1,
        max_size=4,
    ),
    corrupt=st.one_of(st.none(), st.tuples(st.integers(0, 40_000), st.binary(min_size=1, max_size=64))),
)
def test_database_content(small_db: Path, changes: list[tuple[str, int, object, int]], corrupt: object) -> None:
    _count("database")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ivcrush.db"
        shutil.copyfile(small_db, path)
        with sqlite3.connect(path, isolation_level=None) as con:
            for table, column_index, value, row in changes:
                columns = list(SOURCE_COLUMNS[table])
                column = columns[column_index % len(columns)]
                with contextlib.suppress(sqlite3.Error):  # a constraint of 2.0's schema refused the value
                    con.execute(
                        f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = (SELECT rowid FROM "{table}" '
                        "ORDER BY rowid LIMIT 1 OFFSET ?)",
                        (value, row),
                    )
        con.close()
        if corrupt is not None:
            offset, junk = corrupt  # type: ignore[misc]
            with path.open("r+b") as handle:
                handle.seek(min(offset, path.stat().st_size - 1))
                handle.write(junk)
        before = sorted(p.name for p in path.parent.iterdir())
        with contextlib.suppress(IvcrushError):
            read_source(path)
        assert sorted(p.name for p in path.parent.iterdir()) == before


# --- command-line arguments ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(built_sample: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, date]:
    """A published, trained copy of the sample's workspace (quick training: serving is what is fuzzed)."""
    settings = replace(built_sample, workdir=tmp_path_factory.mktemp("fuzz") / "work")
    shutil.copytree(built_sample.workdir, settings.workdir, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    with sqlite3.connect(f"file:{built_sample.db}?mode=ro&immutable=1", uri=True) as con:
        busiest = "SELECT earnings_date FROM iv_log GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        day = date.fromisoformat(con.execute(busiest).fetchone()[0])
    materialize(settings, day)
    train_and_register(settings, evaluation={}, num_boost_round=20)
    return settings, day


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    key = f"{args[0]} exit {result.exit_code}"
    EXITS[key] = EXITS.get(key, 0) + 1
    unexpected = result.exception if not isinstance(result.exception, SystemExit) else None
    assert unexpected is None, f"{args}: {type(unexpected).__name__}: {unexpected}"
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output[-500:])
    assert "Traceback" not in result.output, (args, result.output[-2000:])


NUMBERS = st.one_of(  # plausible values first: hypothesis leans on the first branches
    st.floats(min_value=0.5, max_value=60).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["5", "inf", "-inf", "nan", "0", "-1", "1e308", "0.001", "abc", ""]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a numeric warning is a bug in the pricing, not noise
@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_predict_arguments(served: tuple[Settings, date], data: st.DataObject) -> None:
    _count("predict")
    settings_, day = served
    events = pd.read_parquet(mart_path(settings_.current_build, "earnings_events"))
    known = sorted(events.loc[pd.to_datetime(events["earnings_date"]).dt.date == day, "ticker"])
    weird = st.one_of(st.sampled_from(["AAA", "zz", "A;B", "", "-", "ÆØ", "X" * 12]), st.text(max_size=8))
    args = ["predict", data.draw(st.one_of(st.sampled_from(known), st.sampled_from(known).map(str.lower), weird))]
    for option, values in (
        ("--implied-move", NUMBERS),
        ("--straddle", NUMBERS),
        ("--spot", NUMBERS),
        ("--preset", st.sampled_from(["balanced", "aggressive", "conservative", "bogus"])),
    ):
        value = data.draw(st.one_of(st.none(), values) if option != "--implied-move" else st.one_of(values, st.none()))
        args += [option, value] if value is not None else []
    _invoke([*args, "--date", day.isoformat(), "--workdir", str(settings_.workdir)])


@settings(FUZZ, max_examples=60)
@given(
    command=st.sampled_from(
        [
            ["evaluate", "--folds"],
            ["backtest", "simulate", "--to"],
            ["backtest", "simulate", "--from"],
            ["backtest", "journal", "--to"],
            ["online-features"],
            ["scan"],
            ["materialize", "--as-of"],
            ["sample-db", "--tickers"],
        ]
    ),
    value=st.one_of(NUMBERS, st.sampled_from(["2025-07-01", "1900-01-01", "9999-12-31", "-5", "1000"])),
)
def test_other_arguments(tmp_path_factory: pytest.TempPathFactory, command: list[str], value: str) -> None:
    """Against an empty workspace: each command refuses its argument or the missing publication clearly."""
    _count("arguments")
    folder = tmp_path_factory.mktemp("fuzz-args")
    if command[0] == "sample-db":
        _invoke(["sample-db", str(folder / "s.db"), "--tickers", value, "--years", "1"])
    else:
        _invoke([*command, value, "--workdir", str(folder / "work")])


@settings(FUZZ, max_examples=25)
@given(columns=COLUMNS, rows=st.lists(st.lists(CELLS, min_size=0, max_size=4), max_size=3))
def test_scan_with_a_fuzzed_csv(served: tuple[Settings, date], columns: list[str], rows: list[list[str]]) -> None:
    _count("scan")
    settings_, day = served
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "moves.csv"
        path.write_text("\n".join([",".join(columns), *(",".join(c.replace("\n", " ") for c in row) for row in rows)]))
        _invoke(["scan", day.isoformat(), "--implied-moves", str(path), "--workdir", str(settings_.workdir)])

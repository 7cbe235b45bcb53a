"""Tests of the sample 2.0 database generator (ivcrush.source.sample and its sample_* modules)."""

import sqlite3
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ivcrush.source import sample_journal
from ivcrush.source.reader import readonly_uri
from ivcrush.source.sample import DEFAULT_TODAY, write_sample_db
from tests.conftest import SHARED_SNAPSHOT as REAL_DB
from tests.conftest import SNAPSHOT_MISSING


def _ro(path: Path) -> sqlite3.Connection:
    """Read-only and immutable: creates no -wal/-shm beside the file."""
    return sqlite3.connect(readonly_uri(path), uri=True)


def _tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def _contents(path: Path) -> dict[str, list[tuple]]:
    with _ro(path) as con:
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY 1, 2').fetchall() for t in _tables(con)}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "ivcrush.db"
    write_sample_db(path)
    return path


@pytest.fixture(scope="module")
def con(sample: Path):
    c = _ro(sample)
    yield c
    c.close()


@pytest.fixture(scope="module")
def real():
    if not REAL_DB.exists():
        pytest.skip(SNAPSHOT_MISSING)
    c = _ro(REAL_DB)
    yield c
    c.close()


@pytest.mark.real_snapshot
def test_sqlite_master_equals_real(con: sqlite3.Connection, real: sqlite3.Connection) -> None:
    query = "SELECT type, name, tbl_name, sql FROM sqlite_master"
    assert set(con.execute(query)) == set(real.execute(query))


@pytest.mark.real_snapshot
def test_table_info_equals_real(con: sqlite3.Connection, real: sqlite3.Connection) -> None:
    assert _tables(con) == _tables(real)
    for table in _tables(real):
        assert (
            con.execute(f'PRAGMA table_info("{table}")').fetchall()
            == real.execute(f'PRAGMA table_info("{table}")').fetchall()
        ), table


@pytest.mark.real_snapshot
def test_schema_migrations_equal_real(con: sqlite3.Connection, real: sqlite3.Connection) -> None:
    query = "SELECT * FROM schema_migrations ORDER BY version"
    assert con.execute(query).fetchall() == real.execute(query).fetchall()


def test_wal_and_no_leftovers(sample: Path, con: sqlite3.Connection) -> None:
    header = sample.read_bytes()[:20]
    assert header[18:20] == b"\x02\x02", "file format read/write versions 2 mean WAL mode"
    assert {"sqlite_stat1", "sqlite_sequence"} <= set(_tables(con))
    assert not [p for p in sample.parent.iterdir() if p.name.endswith(".tmp")]


def test_returns_row_counts(tmp_path: Path) -> None:
    counts = write_sample_db(tmp_path / "a.db", tickers=30, seed=3)
    assert counts["historical_moves"] > 100
    assert counts["earnings_calendar"] > counts["historical_moves"]
    assert counts["trade_journal"] >= 30
    assert counts["schema_migrations"] == 3
    assert counts["ticker_metadata"] == 0


def test_deterministic(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    write_sample_db(a, tickers=40, seed=11)
    write_sample_db(b, tickers=40, seed=11)
    write_sample_db(c, tickers=40, seed=12)
    assert _contents(a) == _contents(b)
    assert _contents(a)["historical_moves"] != _contents(c)["historical_moves"]


def test_refuses_existing_path(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        write_sample_db(path, tickers=5)
    assert path.read_bytes() == b"keep"
    assert [p.name for p in tmp_path.iterdir()] == ["x.db"]


def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(sample_journal, "trade_journal", boom)
    with pytest.raises(RuntimeError):
        write_sample_db(tmp_path / "x.db", tickers=5)
    assert list(tmp_path.iterdir()) == []


def test_amc_moves_smaller_than_bmo(con: sqlite3.Connection) -> None:
    df = pd.read_sql(
        "SELECT e.timing, h.close_move_pct FROM historical_moves h "
        "JOIN earnings_calendar e USING (ticker, earnings_date)",
        con,
    )
    means = df.groupby("timing")["close_move_pct"].mean()
    assert 3.0 < means["BMO"] < 7.0
    assert means["AMC"] / means["BMO"] < 0.6


def test_ohlc_and_move_definitions(con: sqlite3.Connection) -> None:
    h = pd.read_sql("SELECT * FROM historical_moves", con)
    assert (h["earnings_low"] <= h[["earnings_open", "earnings_close"]].min(axis=1)).all()
    assert (h["earnings_high"] >= h[["earnings_open", "earnings_close"]].max(axis=1)).all()
    pc = h["prev_close"]
    assert ((h["earnings_open"] / pc - 1).abs() * 100 - h["gap_move_pct"]).abs().max() < 1e-9
    assert ((h["earnings_close"] / pc - 1).abs() * 100 - h["close_move_pct"]).abs().max() < 1e-9
    intraday = (h["earnings_high"] - h["earnings_low"]) / pc * 100
    on_prev_close = (intraday - h["intraday_move_pct"]).abs() < 1e-9
    assert on_prev_close.mean() > 0.85  # like the real file, a few rows divide the range by the open
    assert (h["volume_earnings"] > 0).all() and (h["volume_before"] > 0).all()
    assert h["earnings_date"].max() < DEFAULT_TODAY.isoformat()


def test_calendar_covers_history_and_future(con: sqlite3.Connection) -> None:
    missing = con.execute(
        "SELECT count(*) FROM historical_moves h LEFT JOIN earnings_calendar e USING (ticker, earnings_date) "
        "WHERE e.ticker IS NULL"
    ).fetchone()[0]
    assert missing == 0
    today = DEFAULT_TODAY.isoformat()
    n_future, n_tickers = con.execute(
        "SELECT count(*), count(DISTINCT ticker) FROM earnings_calendar WHERE earnings_date > ?", (today,)
    ).fetchone()
    assert n_tickers == con.execute("SELECT count(DISTINCT ticker) FROM earnings_calendar").fetchone()[0]
    assert n_future >= n_tickers
    weekdays = con.execute("SELECT DISTINCT strftime('%w', earnings_date) FROM earnings_calendar").fetchall()
    assert {w for (w,) in weekdays} <= {"1", "2", "3", "4", "5"}


def test_trade_journal_shapes(con: sqlite3.Connection) -> None:
    j = pd.read_sql("SELECT * FROM trade_journal", con)
    assert len(j) >= 30
    assert ((j["sale_date"] < j["acquired_date"]) & (j["days_held"] < 0)).any()
    assert (j["option_type"].isna()).any()
    assert ((j["proceeds"] - j["cost_basis"]).round(2) == j["gain_loss"]).all()
    assert (j["is_winner"] == (j["gain_loss"] > 0).astype(int)).all()
    held = pd.to_datetime(j["sale_date"]) - pd.to_datetime(j["acquired_date"])
    assert (held.dt.days == j["days_held"]).all()
    opts = j[j["option_type"].notna()].copy()
    opts["first"] = opts[["acquired_date", "sale_date"]].min(axis=1)
    opts["last"] = opts[["acquired_date", "sale_date"]].max(axis=1)
    legs = opts.groupby(["symbol", "expiration", "first", "last"]).apply(
        lambda g: set(zip(g["option_type"], g["strike"], strict=True)), include_groups=False
    )
    condors = [s for s in legs if sum(t == "PUT" for t, _ in s) == 2 and sum(t == "CALL" for t, _ in s) == 2]
    assert condors
    split = opts.groupby(["symbol", "acquired_date", "sale_date", "option_type", "strike"]).size()
    assert (split > 1).any()


def test_iv_log_consistency(con: sqlite3.Connection) -> None:
    iv = pd.read_sql("SELECT * FROM iv_log", con)
    assert len(iv) >= 5
    assert ((iv["call_mid"] + iv["put_mid"] - iv["straddle_cost"]).abs() < 1e-9).all()
    assert ((iv["straddle_cost"] / iv["stock_price"] * 100 - iv["implied_move_pct"]).abs() < 1e-9).all()
    assert ((iv["implied_move_pct"] / iv["historical_mean_pct"] - iv["vrp_ratio"]).abs() < 1e-9).all()
    assert set(iv["recommendation"]) <= {"excellent", "good", "marginal", "skip"}
    assert iv["ml_predicted_move_pct"].isna().all() and iv["ml_confidence"].isna().all()
    today = DEFAULT_TODAY.isoformat()
    assert (iv["earnings_date"] > today).any() and (iv["earnings_date"] < today).any()
    assert (iv["scan_date"] < iv["earnings_date"]).all() and (iv["expiration"] > iv["earnings_date"]).all()
    # past scans join to an outcome; their historical mean uses only the earlier moves
    h = pd.read_sql("SELECT ticker, earnings_date, close_move_pct FROM historical_moves", con)
    row = iv[iv["earnings_date"] < today].iloc[0]
    prior = h[(h["ticker"] == row["ticker"]) & (h["earnings_date"] < row["earnings_date"])]
    prior = prior.sort_values("earnings_date").tail(12)["close_move_pct"]
    assert row["quarters_of_data"] == len(prior)
    assert row["historical_mean_pct"] == pytest.approx(prior.mean())
    assert ((h["ticker"] == row["ticker"]) & (h["earnings_date"] == row["earnings_date"])).any()


def test_custom_today(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    write_sample_db(path, tickers=20, today=date(2021, 3, 15))
    with _ro(path) as c:
        last_move = c.execute("SELECT max(earnings_date) FROM historical_moves").fetchone()[0]
        last_cal = c.execute("SELECT max(earnings_date) FROM earnings_calendar").fetchone()[0]
    assert last_move < "2021-03-15" < last_cal


def test_scales(tmp_path: Path) -> None:
    start = time.perf_counter()
    counts = write_sample_db(tmp_path / "big.db", tickers=2000)
    assert counts["historical_moves"] > 20_000
    assert time.perf_counter() - start < 10

"""The market-data store: documented columns, precise validation errors, imports (CLI too), sample prices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ivcrush.cli.app import app
from ivcrush.market.importer import import_file
from ivcrush.market.schema import PRICES, QUOTES, MarketDataError, validate
from ivcrush.market.store import dataset_path, load_market, market_dir, read_dataset, read_manifest
from ivcrush.settings import Settings
from ivcrush.source.reader import read_source
from ivcrush.source.sample_prices import sample_prices

PRICE_ROWS = [
    {"ticker": "abc", "date": "2024-07-03", "open": 10, "high": 11, "low": 9.5, "close": 10.5, "volume": 1000},
    {"ticker": "ABC", "date": "2024-07-05", "open": 10.5, "high": 12, "low": 10, "close": 11.5, "volume": 1200},
    {"ticker": "^VIX", "date": "2024-07-05", "open": 12, "high": 13, "low": 11, "close": 12.5, "volume": 0},
]
QUOTE_ROWS = [
    {"ticker": "ABC", "as_of": "2024-07-05", "expiration": "2024-07-12", "strike": 11, "type": "call",
     "bid": 0.5, "ask": 0.6, "iv": 0.45},
    {"ticker": "ABC", "as_of": "2024-07-05T19:45:00Z", "expiration": "2024-07-12", "strike": 11, "type": "P",
     "bid": 0.4, "ask": 0.5},
]  # fmt: skip


def _csv(tmp_path: Path, rows: list[dict], name: str = "prices.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(workdir=tmp_path / "work")


def test_validate_types_and_normalises() -> None:
    prices = validate(pd.DataFrame(PRICE_ROWS), PRICES, "x")
    assert prices["ticker"].tolist() == ["ABC", "ABC", "^VIX"]
    assert str(prices["date"].dtype).startswith("datetime64")
    quotes = validate(pd.DataFrame(QUOTE_ROWS), QUOTES, "x")
    assert quotes["type"].tolist() == ["C", "P"]
    # a bare date is that day's 16:00 New York close (20:00 UTC in summer)
    assert quotes["as_of"].iloc[0] == pd.Timestamp("2024-07-05 20:00", tz="UTC")
    assert np.isnan(quotes["iv"].iloc[1])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"close": "abc"}, "row 3, column close: not a number ('abc')"),
        ({"date": "07/05/2024"}, "row 3, column date: not a date YYYY-MM-DD"),
        ({"low": 12.5}, "row 3, column low: above open or close"),
        ({"high": 9}, "row 3, column high: below open, close or low"),
        ({"close": -1}, "row 3, column close: must be > 0"),
        ({"volume": -5}, "row 3, column volume: must be >= 0"),
        ({"ticker": "bad ticker!"}, "row 3, column ticker: not a ticker"),
        ({"date": "2024-07-03"}, "row 3, column ticker+date: duplicate key"),
        ({"open": None}, "row 3, column open: missing value"),
    ],
)
def test_import_names_file_row_column_and_writes_nothing(
    settings: Settings, tmp_path: Path, change: dict, expected: str
) -> None:
    rows = [dict(r) for r in PRICE_ROWS]
    rows[1].update(change)  # the second data row: line 3 of the CSV (the header is line 1)
    path = _csv(tmp_path, rows)
    with pytest.raises(MarketDataError) as info:
        import_file(settings, "prices", path)
    assert str(path) in str(info.value) and expected in str(info.value)
    assert "nothing was written" in str(info.value)
    assert not dataset_path(market_dir(settings), PRICES).exists()


def test_missing_columns_and_bad_quotes(settings: Settings, tmp_path: Path) -> None:
    path = _csv(tmp_path, [{k: v for k, v in PRICE_ROWS[0].items() if k != "volume"}])
    with pytest.raises(MarketDataError, match="column\\(s\\) volume missing"):
        import_file(settings, "prices", path)
    bad = [dict(QUOTE_ROWS[0], ask=0.4), dict(QUOTE_ROWS[1], type="X", expiration="2024-07-01")]
    with pytest.raises(MarketDataError) as info:
        import_file(settings, "options", _csv(tmp_path, bad, "q.csv"))
    message = str(info.value)
    assert "row 2, column ask: below bid" in message
    assert "row 3, column type: not C, P, call or put" in message
    assert "row 3, column expiration: before as_of" in message


def test_import_merges_and_records_sources(settings: Settings, tmp_path: Path) -> None:
    first = _csv(tmp_path, PRICE_ROWS[:2])
    import_file(settings, "prices", first)
    newer = dict(PRICE_ROWS[1], close=11.0)  # same key: replaces the stored bar
    parquet = tmp_path / "more.parquet"
    pd.DataFrame([newer, PRICE_ROWS[2]]).to_parquet(parquet)
    result = import_file(settings, "prices", parquet)
    assert (result.rows_written, result.rows_stored, result.tickers) == (2, 3, 2)
    stored = read_dataset(market_dir(settings), PRICES)
    assert stored.loc[stored["date"] == "2024-07-05", "close"].tolist() == [11.0, 12.5]
    manifest = read_manifest(market_dir(settings))["daily_prices"]
    assert [u["source"] for u in manifest["updates"]] == [f"import:{first}", f"import:{parquet}"]
    assert (manifest["first"], manifest["last"], manifest["rows"]) == ("2024-07-03", "2024-07-05", 3)
    import_file(settings, "options", _csv(tmp_path, QUOTE_ROWS, "q.csv"))
    counts = load_market(market_dir(settings), tmp_path / "w.duckdb")
    assert counts == {"daily_prices": 3, "option_quotes": 2}


def test_load_market_without_store_makes_empty_tables(tmp_path: Path) -> None:
    assert load_market(tmp_path / "none", tmp_path / "w.duckdb") == {"daily_prices": 0, "option_quotes": 0}


def test_cli_import_and_status(tmp_path: Path) -> None:
    runner = CliRunner()
    work = str(tmp_path / "work")
    empty = runner.invoke(app, ["market", "status", "--workdir", work])
    assert empty.exit_code == 0 and "no market data" in empty.output
    good = runner.invoke(app, ["import", "prices", str(_csv(tmp_path, PRICE_ROWS)), "--workdir", work])
    assert good.exit_code == 0, good.output
    assert "3 rows imported" in good.output
    status = runner.invoke(app, ["market", "status", "--workdir", work])
    assert "daily_prices" in status.output and "import:" in status.output
    bad = runner.invoke(app, ["import", "options", str(_csv(tmp_path, PRICE_ROWS, "p2.csv")), "--workdir", work])
    assert bad.exit_code == 2 and "column(s) as_of, expiration, strike, type, bid, ask missing" in bad.output
    nofile = runner.invoke(app, ["import", "prices", str(tmp_path / "nope.csv"), "--workdir", work])
    assert nofile.exit_code == 2 and "no such file" in nofile.output


@pytest.fixture(scope="module")
def prices(sample_db: Path) -> pd.DataFrame:
    return sample_prices(sample_db, seed=11)


def test_sample_prices_valid_and_deterministic(sample_db: Path, prices: pd.DataFrame) -> None:
    validate(prices, PRICES, "sample")  # raises on any problem
    assert {"SPY", "^VIX"} <= set(prices["ticker"])
    pd.testing.assert_frame_equal(prices, sample_prices(sample_db, seed=11))


def test_sample_prices_agree_with_stored_moves(sample_db: Path, prices: pd.DataFrame) -> None:
    """Every stored row is a bar of the series (on its date where that is a trading day) and its prev_close the
    close before; an AMC row is the announcement day, followed by a reaction bar."""
    tables = read_source(sample_db).tables
    moves = tables["historical_moves"].merge(tables["earnings_calendar"], on=["ticker", "earnings_date"])
    bars = prices.assign(date=pd.to_datetime(prices["date"]))
    bars["previous_close"] = bars.groupby("ticker")["close"].shift()
    bars["next_close"] = bars.groupby("ticker")["close"].shift(-1)
    joined = moves.merge(bars, left_on=["ticker", "earnings_date"], right_on=["ticker", "date"])
    assert len(joined) >= 0.95 * len(moves)  # the rest fall on market holidays
    np.testing.assert_allclose(joined["close"], joined["earnings_close"], rtol=1e-12)
    np.testing.assert_allclose(joined["previous_close"], joined["prev_close"], rtol=1e-12)
    np.testing.assert_allclose(joined["open"], joined["earnings_open"], rtol=1e-12)
    amc = joined[joined["timing"] == "AMC"]
    reaction = (amc["next_close"] / amc["close"] - 1).abs().mean()
    stored = (amc["earnings_close"] / amc["prev_close"] - 1).abs().mean()
    assert reaction > 2 * stored  # the reaction is earnings-sized, the stored announcement day ordinary


def test_dbt_market_sources_declare_what_the_build_loads(tmp_path: Path) -> None:
    """The `market` source's columns and types are those `load_market` creates; its series names are the
    schema's."""
    import duckdb
    import yaml

    from ivcrush.market.schema import INDEX_TICKER, VIX_TICKER
    from ivcrush.settings import DBT_PROJECT_DIR

    warehouse = tmp_path / "w.duckdb"
    load_market(tmp_path / "none", warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = {
            (table, column): data_type.lower()
            for table, column, data_type in con.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'market'"
            ).fetchall()
        }
    (source,) = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "_market__sources.yml").read_text())["sources"]
    declared = {(t["name"], c["name"]): c["data_type"] for t in source["tables"] for c in t["columns"]}
    assert declared == loaded
    variables = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert (variables["index_ticker"], variables["vix_ticker"]) == (INDEX_TICKER, VIX_TICKER)


def test_never_written_beside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "ivcrush.db"
    with pytest.raises(MarketDataError, match="folder of the database"):
        import_file(Settings(workdir=tmp_path, db=db), "prices", _csv(tmp_path / "..", PRICE_ROWS, "elsewhere.csv"))
    assert not (tmp_path / "market").exists()

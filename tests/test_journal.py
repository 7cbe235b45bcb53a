"""Trade-journal lots grouped into positions, structures, rolls and the earnings-crossing flag.

The lots pass through the dbt staging model's own SQL (`stg_ivcrush__trade_journal`, the one place that puts
a lot's dates in trading order and decides its side), as they do in a build.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2
import pandas as pd
import pytest

from ivcrush.settings import DBT_PROJECT_DIR, Settings
from ivcrush.source.reader import read_source
from ivcrush.training.backtest.campaigns import build_campaigns
from ivcrush.training.backtest.positions import (
    LOTS_MODEL,
    group_positions,
    journal_positions,
    mark_earnings,
    reactions_from_build,
    structure_counts,
)

MODEL_SQL = (DBT_PROJECT_DIR / "models" / "staging" / f"{LOTS_MODEL}.sql").read_text()


def _lot(sym, acquired, sale, kind, strike, exp, qty, cost, proceeds, term="SHORT") -> dict:
    return {
        "symbol": sym,
        "acquired_date": pd.Timestamp(acquired) if acquired else pd.NaT,
        "sale_date": pd.Timestamp(sale),
        "option_type": kind,
        "strike": strike,
        "expiration": pd.Timestamp(exp) if exp else pd.NaT,
        "quantity": qty,
        "cost_basis": cost,
        "proceeds": proceeds,
        "gain_loss": round(proceeds - cost, 2),
        "term": term,
    }


def _journal(*lots: dict) -> pd.DataFrame:
    """The raw lots (as in 2.0's `trade_journal`) through the staging model's SQL, ordered as a build reads them."""
    raw = pd.DataFrame(list(lots))
    raw["option_type"] = raw["option_type"].astype("string")
    raw.insert(0, "id", range(1, len(raw) + 1))
    raw["wash_sale_amount"] = 0.0
    raw["earnings_date"] = pd.NaT
    sql = jinja2.Template(MODEL_SQL).render(source=lambda *_: "raw_trade_journal")
    with duckdb.connect() as con:
        con.register("raw_trade_journal", raw)
        return con.sql(f"select * from ({sql}) order by lot_id").df()


def _one(positions: pd.DataFrame, symbol: str) -> pd.Series:
    rows = positions[positions["symbol"] == symbol]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_a_leg_split_into_three_lots_is_one_position_with_one_leg() -> None:
    positions = group_positions(
        _journal(
            # short put sold 01-06, bought back 01-08 in three lots (credit: sale before acquired)
            _lot("ABC", "2025-01-08", "2025-01-06", "PUT", 50.0, "2025-01-10", 5, 10.0, 200.0),
            _lot("ABC", "2025-01-08", "2025-01-06", "PUT", 50.0, "2025-01-10", 3, 6.0, 120.0),
            _lot("ABC", "2025-01-08", "2025-01-06", "PUT", 50.0, "2025-01-10", 2, 4.0, 80.0),
        )
    )
    pos = _one(positions, "ABC")
    assert (pos["legs"], pos["lots"], pos["contracts"]) == (1, 3, 10.0)
    assert pos["entry_date"] == pd.Timestamp("2025-01-06") and pos["exit_date"] == pd.Timestamp("2025-01-08")
    assert pos["structure"] == "single" and pos["description"] == "short put"
    assert pos["is_credit"] and pos["pnl"] == pytest.approx(380.0)
    assert pos["short_strikes"] == (50.0,)


def test_credit_put_spread_with_inverted_dates_and_legs_closed_on_different_days() -> None:
    positions = group_positions(
        _journal(
            _lot("XYZ", "2025-01-08", "2025-01-06", "PUT", 95.0, "2025-01-17", 10, 100.0, 900.0),  # short, sold first
            _lot("XYZ", "2025-01-06", "2025-01-09", "PUT", 90.0, "2025-01-17", 10, 400.0, 50.0),  # long hedge
        )
    )
    pos = _one(positions, "XYZ")
    assert pos["structure"] == "vertical spread" and pos["description"] == "put credit spread"
    assert (pos["legs"], pos["short_legs"], pos["contracts"]) == (2, 1, 10.0)
    assert pos["exit_date"] == pd.Timestamp("2025-01-09")  # held until the last leg is closed
    assert pos["net_open_premium"] == pytest.approx(500.0) and pos["is_credit"]
    assert pos["pnl"] == pytest.approx(800.0 - 350.0)


def test_iron_condor_and_strangle_and_straddle() -> None:
    exp = "2025-02-21"
    positions = group_positions(
        _journal(
            _lot("IC", "2025-02-20", "2025-02-18", "PUT", 90.0, exp, 2, 10.0, 100.0),
            _lot("IC", "2025-02-18", "2025-02-20", "PUT", 85.0, exp, 2, 40.0, 1.0),
            _lot("IC", "2025-02-20", "2025-02-18", "CALL", 110.0, exp, 2, 10.0, 100.0),
            _lot("IC", "2025-02-18", "2025-02-20", "CALL", 115.0, exp, 2, 40.0, 1.0),
            _lot("STR", "2025-02-20", "2025-02-18", "PUT", 90.0, exp, 1, 10.0, 100.0),
            _lot("STR", "2025-02-20", "2025-02-18", "CALL", 110.0, exp, 1, 10.0, 100.0),
            _lot("STD", "2025-02-20", "2025-02-18", "PUT", 100.0, exp, 1, 10.0, 300.0),
            _lot("STD", "2025-02-20", "2025-02-18", "CALL", 100.0, exp, 1, 10.0, 300.0),
        )
    )
    condor = _one(positions, "IC")
    assert (condor["structure"], condor["legs"], condor["short_legs"]) == ("iron condor", 4, 2)
    assert condor["strikes"] == "85/90/110/115" and condor["option_types"] == "CALL,PUT"
    assert _one(positions, "STR")["description"] == "short strangle"
    assert _one(positions, "STD")["structure"] == "strangle/straddle"
    assert _one(positions, "STD")["description"] == "short straddle"


def test_a_roll_is_two_positions_linked() -> None:
    positions = group_positions(
        _journal(
            _lot("RL", "2025-03-05", "2025-03-03", "PUT", 100.0, "2025-03-07", 4, 800.0, 200.0),  # closed 03-05
            _lot("RL", "2025-03-12", "2025-03-05", "PUT", 95.0, "2025-03-14", 4, 100.0, 500.0),  # opened 03-05
            _lot("RL", "2025-04-02", "2025-04-01", "PUT", 90.0, "2025-04-04", 1, 10.0, 50.0),  # unrelated later
        )
    )
    assert len(positions) == 3
    first, second, third = (positions.iloc[i] for i in range(3))
    assert first["rolled_from"] is None
    assert second["rolled_from"] == first["position_id"]
    assert third["rolled_from"] is None


def test_stock_lots_and_stock_with_an_option() -> None:
    positions = group_positions(
        _journal(
            _lot("STK", "2025-01-02", "2025-02-03", None, None, None, 100, 10_000.0, 10_500.0),
            # covered call opened and closed together: one position
            _lot("CC", "2025-01-02", "2025-01-10", None, None, None, 100, 10_000.0, 10_300.0),
            _lot("CC", "2025-01-10", "2025-01-02", "CALL", 105.0, "2025-01-17", 1, 20.0, 150.0),
            # shares and a call opened together but closed on different days: two positions
            _lot("CD", "2025-01-02", "2025-01-30", None, None, None, 100, 10_000.0, 10_300.0),
            _lot("CD", "2025-01-10", "2025-01-02", "CALL", 105.0, "2025-01-17", 1, 20.0, 150.0),
        )
    )
    stock = _one(positions, "STK")
    assert (stock["structure"], stock["shares"], stock["contracts"], stock["legs"]) == ("stock", 100.0, 0.0, 1)
    covered = _one(positions, "CC")
    assert covered["structure"] == "other" and covered["description"].startswith("covered call")
    assert sorted(positions.loc[positions["symbol"] == "CD", "structure"]) == ["single", "stock"]


def test_section_1256_long_short_term_split_lots_are_one_leg() -> None:
    positions = group_positions(
        _journal(
            _lot("SPX", "2025-05-01", "2025-05-13", "PUT", 5800.0, "2026-03-20", 0.6, 600.0, 500.0, term="LONG"),
            _lot("SPX", "2025-05-01", "2025-05-13", "PUT", 5800.0, "2026-03-20", 0.4, 400.0, 300.0, term="SHORT"),
        )
    )
    pos = _one(positions, "SPX")
    assert (pos["legs"], pos["lots"], pos["contracts"]) == (1, 2, pytest.approx(1.0))
    assert pos["description"] == "long put" and not pos["is_credit"]


def _crossing_positions() -> pd.DataFrame:
    return group_positions(
        _journal(
            # AMC Friday 2025-01-31 -> reaction Monday 02-03
            _lot("AMC1", "2025-02-03", "2025-01-31", "PUT", 50.0, "2025-02-07", 1, 5.0, 50.0),  # 01-31 -> 02-03
            _lot("AMC2", "2025-01-31", "2025-01-30", "PUT", 50.0, "2025-02-07", 1, 5.0, 50.0),  # 01-30 -> 01-31
            _lot("BMO1", "2025-02-04", "2025-02-03", "PUT", 50.0, "2025-02-07", 1, 5.0, 50.0),  # 02-03 -> 02-04
            _lot("BMO2", "2025-02-05", "2025-02-04", "PUT", 50.0, "2025-02-07", 1, 5.0, 50.0),  # entered on reaction
        )
    )


def _check_crossing(marked: pd.DataFrame) -> None:
    amc1 = _one(marked, "AMC1")
    assert amc1["crosses_earnings"] and amc1["earnings_timing"] == "AMC"
    assert amc1["reaction_date"] == pd.Timestamp("2025-02-03")
    assert amc1["earnings_date"] == pd.Timestamp("2025-01-31")
    assert not _one(marked, "AMC2")["crosses_earnings"]  # closed on the announcement day, before the reaction
    assert _one(marked, "AMC2")["earnings_timing"] == "none"
    assert _one(marked, "BMO1")["crosses_earnings"]
    assert not _one(marked, "BMO2")["crosses_earnings"]  # entered on the reaction day itself


def test_earnings_crossing_from_a_builds_earnings_events_mart(tmp_path: Path) -> None:
    (tmp_path / "marts").mkdir()
    dates = [pd.Timestamp(d).date() for d in ("2025-01-31", "2025-01-31", "2025-02-04", "2025-02-04")]
    reaction = [pd.Timestamp(d).date() for d in ("2025-02-03", "2025-02-03", "2025-02-04", "2025-02-04")]
    pd.DataFrame(
        {
            "ticker": ["AMC1", "AMC2", "BMO1", "BMO2"],
            "earnings_date": dates,
            "timing": ["AMC", "AMC", "BMO", "BMO"],
            "reaction_date": reaction,
        }
    ).to_parquet(tmp_path / "marts" / "earnings_events.parquet")
    _check_crossing(mark_earnings(_crossing_positions(), reactions_from_build(tmp_path)))


def test_sample_journal_groups_every_lot(built_sample: Settings) -> None:
    lots = read_source(built_sample.source_db).tables["trade_journal"]
    positions = journal_positions(built_sample.current_build)
    assert positions["lots"].sum() == len(lots)
    assert positions["pnl"].sum() == pytest.approx(lots["gain_loss"].sum(), abs=0.01 * len(lots))
    counts = structure_counts(positions)
    # the generator's first five positions are one of each structure
    assert counts["single"] > 0 and counts["vertical spread"] > 0 and counts["iron condor"] > 0
    assert counts["stock"] > 0
    assert positions["crosses_earnings"].any()


@pytest.mark.real_snapshot
def test_real_journal_positions(built_real: Settings) -> None:
    lots = read_source(built_real.source_db).tables["trade_journal"]
    positions = journal_positions(built_real.current_build)
    counts = structure_counts(positions)
    print(f"\nreal journal: {len(lots)} lots -> {len(positions)} positions; {counts.to_dict()}")
    print(f"earnings positions: {int(positions['crosses_earnings'].sum())}")
    assert len(lots) == 62
    assert positions["lots"].sum() == 62
    assert len(positions) == 32
    assert counts.to_dict() == {
        "single": 29,
        "vertical spread": 0,
        "strangle/straddle": 0,
        "iron condor": 0,
        "stock": 2,
        "other": 1,
    }
    asan = positions[positions["symbol"] == "ASAN"].sort_values("entry_date")
    assert asan["rolled_from"].iloc[1] == asan["position_id"].iloc[0]  # 06-06 put rolled to 06-20 on 06-05
    assert int(positions["crosses_earnings"].sum()) == 14


@pytest.mark.real_snapshot
def test_real_asan_roll_is_one_earnings_campaign(built_real: Settings) -> None:
    """ASAN's earnings put (-$6,432) rolled two days later (-$4,394, not crossing earnings): one earnings campaign
    of -$10,826, not an earnings loss understated by 40%."""
    campaigns = build_campaigns(journal_positions(built_real.current_build), roll_days=2)
    asan = campaigns[campaigns["symbol"] == "ASAN"]
    assert len(asan) == 1
    row = asan.iloc[0]
    assert row["positions"] == 2 and row["crosses_earnings"]
    assert row["pnl"] == pytest.approx(-6432.45 - 4393.66)
    earnings = campaigns[campaigns["crosses_earnings"]]
    assert len(campaigns) == 31 and len(earnings) == 14

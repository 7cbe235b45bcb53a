"""Features of the real snapshot recomputed independently (plain pandas over the source rows)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ivcrush.settings import DBT_PROJECT_DIR, Settings
from ivcrush.source.reader import readonly_uri
from ivcrush.workspace import MARTS, mart_path
from tests.conftest import file_digest, folder_state

pytestmark = pytest.mark.real_snapshot
NEW_YORK = "America/New_York"


def _mart(settings: Settings, name: str) -> pd.DataFrame:
    return pd.read_parquet(mart_path(settings.current_build, name))


@pytest.fixture(scope="module")
def source(real_snapshot: Path) -> pd.DataFrame:
    """Stored moves with their timing and reaction day, computed here without dbt."""
    with sqlite3.connect(readonly_uri(real_snapshot), uri=True) as con:
        moves = pd.read_sql_query(
            "SELECT m.ticker, m.earnings_date, m.prev_close, m.earnings_close, c.timing "
            "FROM historical_moves m JOIN earnings_calendar c USING (ticker, earnings_date)",
            con,
        )
    holidays = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "market_holidays.csv")["holiday_date"]
    calendar = np.busdaycalendar(holidays=holidays.to_numpy(dtype="datetime64[D]"))
    dates = pd.to_datetime(moves["earnings_date"]).to_numpy(dtype="datetime64[D]")
    on_or_after = np.busday_offset(dates, 0, roll="forward", busdaycal=calendar)
    next_day = np.busday_offset(dates, 1, roll="forward", busdaycal=calendar)
    moves["reaction_date"] = np.where(moves["timing"] == "AMC", next_day, on_or_after)
    decision = np.busday_offset(moves["reaction_date"].to_numpy(dtype="datetime64[D]"), -1, busdaycal=calendar)
    moves["event_timestamp"] = (
        (pd.to_datetime(decision) + pd.Timedelta(hours=16)).tz_localize(NEW_YORK).tz_convert("UTC")
    )
    moves["outcome_known_at"] = (
        (pd.to_datetime(moves["reaction_date"]) + pd.Timedelta(hours=16)).dt.tz_localize(NEW_YORK).dt.tz_convert("UTC")
    )
    moves["abs_close"] = (moves["earnings_close"] / moves["prev_close"] - 1).abs() * 100
    moves["trusted"] = moves["timing"].isin(["BMO", "DMH"])
    moves["event_id"] = moves["ticker"] + ":" + moves["earnings_date"]
    return moves.sort_values(["ticker", "reaction_date"]).reset_index(drop=True)


def test_build_leaves_the_snapshot_byte_identical(real_snapshot: Path, built_real: Settings) -> None:
    before = file_digest(real_snapshot)
    folder_before = folder_state(real_snapshot.parent)
    names_before = sorted(p.name for p in real_snapshot.parent.iterdir())
    from ivcrush.build import build

    build(built_real)
    assert file_digest(real_snapshot) == before
    # Whatever else the user keeps beside the database, nothing is added, removed or changed there.
    assert folder_state(real_snapshot.parent) == folder_before
    assert sorted(p.name for p in real_snapshot.parent.iterdir()) == names_before


def test_one_feature_row_per_event(built_real: Settings, source: pd.DataFrame) -> None:
    events = _mart(built_real, "earnings_events")
    assert events["event_id"].is_unique
    labels = _mart(built_real, "event_labels")
    assert set(labels["event_id"]) == set(source["event_id"])
    for mart in MARTS:
        frame = _mart(built_real, mart)
        if mart == "event_labels":
            continue
        assert frame["event_id"].is_unique, mart
        assert set(frame["event_id"]) == set(events["event_id"]), mart


def test_reaction_day_and_decision_time_match_pandas(built_real: Settings, source: pd.DataFrame) -> None:
    events = _mart(built_real, "earnings_events").set_index("event_id").loc[source["event_id"]]
    assert (pd.to_datetime(events["reaction_date"]).to_numpy() == source["reaction_date"].to_numpy()).all()
    assert (events["event_timestamp"].to_numpy() == source["event_timestamp"].to_numpy()).all()


def test_history_windows_match_pandas(built_real: Settings, source: pd.DataFrame) -> None:
    features = _mart(built_real, "historical_move_features").set_index("event_id")
    expected_last, expected_mean4, expected_all12 = {}, {}, {}
    for _, group in source.groupby("ticker"):
        for row in group.itertuples():
            prior = group[group["outcome_known_at"] < row.event_timestamp]
            trusted = prior[prior["trusted"]]
            expected_last[row.event_id] = trusted["abs_close"].iloc[-1] if len(trusted) else np.nan
            expected_mean4[row.event_id] = trusted["abs_close"].tail(4).mean() if len(trusted) else np.nan
            expected_all12[row.event_id] = prior["abs_close"].tail(12).mean() if len(prior) else np.nan
    ids = list(expected_last)
    np.testing.assert_allclose(features.loc[ids, "hm_close_last"], pd.Series(expected_last)[ids], rtol=1e-9)
    np.testing.assert_allclose(features.loc[ids, "hm_close_mean_4q"], pd.Series(expected_mean4)[ids], rtol=1e-9)
    np.testing.assert_allclose(
        features.loc[ids, "hm_close_mean_12q_all_rows"], pd.Series(expected_all12)[ids], rtol=1e-9
    )
    assert features.loc[ids, "hm_close_last"].notna().sum() > 1000


def test_market_regime_shares_match_pandas(built_real: Settings, source: pd.DataFrame) -> None:
    """Trailing 30/90-day shares of trusted moves above 5% and the season intensity (30-day over 90-day count),
    from outcomes known strictly before each decision time: no count that grows with database coverage."""
    regime = _mart(built_real, "market_regime_features").set_index("event_id").loc[source["event_id"]]
    trusted = source[source["trusted"]]
    known = trusted["outcome_known_at"].to_numpy()
    big = trusted["abs_close"].to_numpy() > 5
    ts = source["event_timestamp"].to_numpy()
    shares: dict[int, list[float]] = {30: [], 90: []}
    intensity = []
    for t in ts:
        counts = {}
        for days in (30, 90):
            window = (known < t) & (known >= t - np.timedelta64(days, "D"))
            counts[days] = int(window.sum())
            shares[days].append(big[window].mean() if counts[days] else np.nan)
        intensity.append(counts[30] / counts[90] if counts[90] else np.nan)
    for days in (30, 90):
        np.testing.assert_allclose(regime[f"mkt_big_move_share_{days}d"].astype(float), shares[days], rtol=1e-12)
    np.testing.assert_allclose(regime["mkt_season_intensity"].astype(float), intensity, rtol=1e-12)
    assert not {"mkt_events_30d", "mkt_events_90d"} & set(regime.columns), "no coverage-dependent counts"

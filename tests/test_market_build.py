"""The dbt build with the workspace's market store: reaction-day labels from prices (AMC trusted), the check
that stored BMO moves agree with prices, price features recomputed independently, and no look-ahead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ivcrush.build import build
from ivcrush.feature_repo.feature_names import MODEL_FEATURE_COLUMNS, PRICE_FEATURES
from ivcrush.market.schema import PRICES, QUOTES
from ivcrush.market.store import market_dir, read_dataset, write_rows
from ivcrush.settings import Settings
from ivcrush.source.sample_prices import sample_prices, write_sample_market
from ivcrush.workspace import MARTS, current_build, mart_path

FEATURE_MARTS = [m for m in MARTS if m.endswith("_features")]


def _mart(settings: Settings, mart: str) -> pd.DataFrame:
    """A mart of the published build, its date columns as timestamps."""
    frame = pd.read_parquet(mart_path(settings.current_build, mart))
    for column in [c for c in frame.columns if c.endswith("_date")]:
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _features(settings: Settings) -> pd.DataFrame:
    frames = [_mart(settings, m).set_index("event_id") for m in FEATURE_MARTS]
    joined = frames[0]
    for frame in frames[1:]:
        joined = joined.join(frame.drop(columns=["ticker", "event_timestamp"]))
    return joined.sort_index()


def _close_at(day: pd.Timestamp) -> pd.Timestamp:
    return (pd.Timestamp(day) + pd.Timedelta(hours=16)).tz_localize("America/New_York").tz_convert("UTC")


@pytest.fixture(scope="module")
def prices(sample_db: Path) -> pd.DataFrame:
    return sample_prices(sample_db, seed=11)


def _build_with(prices: pd.DataFrame, db: Path, workdir: Path, quotes: pd.DataFrame | None = None) -> Settings:
    settings = Settings(workdir=workdir, db=db)
    write_rows(settings, PRICES, prices, "test")
    if quotes is not None:
        write_rows(settings, QUOTES, quotes, "test")
    build(settings)
    return settings


@pytest.fixture(scope="module")
def priced(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample built with its sample prices and option quotes (`ivcrush sample-db --prices`)."""
    settings = Settings(workdir=tmp_path_factory.mktemp("work-priced"), db=sample_db)
    write_sample_market(settings, sample_db, seed=11)
    build(settings)
    return settings


def test_without_prices_the_build_is_todays(built_sample: Settings) -> None:
    """No market store: every price feature NULL, labels as stored, AMC rows untrusted."""
    features = _features(built_sample)
    assert features[list(PRICE_FEATURES)].isna().all().all()
    labels = _mart(built_sample, "event_labels")
    assert set(labels["label_source"]) == {"stored"}
    assert not labels.loc[labels["timing"] == "AMC", "label_trusted"].any()


def test_prices_give_trusted_reaction_day_labels(priced: Settings, built_sample: Settings) -> None:
    labels = _mart(priced, "event_labels").set_index("event_id")
    stored = _mart(built_sample, "event_labels").set_index("event_id")
    known = labels[labels["timing"].isin(["BMO", "AMC", "DMH"])]
    assert (known["label_source"] == "prices").all() and known["label_trusted"].all()
    amc = known[known["timing"] == "AMC"]
    assert len(amc) > 100
    # AMC: the reaction day (next trading day), not 2.0's announcement-day row
    assert amc["abs_close_move_pct"].mean() > 2 * stored.loc[amc.index, "abs_close_move_pct"].mean()
    assert (amc["reaction_date"] > amc["earnings_date"]).all()
    bmo = known[known["timing"] == "BMO"]
    np.testing.assert_allclose(bmo["abs_close_move_pct"], stored.loc[bmo.index, "abs_close_move_pct"], atol=1e-9)
    result = current_build(priced)
    assert result is not None
    assert not [w for w in result.quality_warnings if w.startswith("stored_moves_agree_with_prices")]
    # the events AMC labels now describe feed the per-ticker history: more trusted prior moves
    history = _mart(priced, "historical_move_features").set_index("event_id")["hm_prior_events"]
    before = _mart(built_sample, "historical_move_features").set_index("event_id")["hm_prior_events"]
    assert history.sum() > 1.5 * before.sum()


def test_price_features_recomputed_from_the_bars(priced: Settings, prices: pd.DataFrame) -> None:
    """Realised volatility, ATR, drift and the VIX percentile of a few events, from the bars in pandas."""
    events = _mart(priced, "earnings_events").set_index("event_id")
    features = _features(priced)
    bars = prices.assign(date=pd.to_datetime(prices["date"])).sort_values(["ticker", "date"])
    bars["previous"] = bars.groupby("ticker")["close"].shift()
    last_bar = pd.Timestamp(prices["date"].max())
    decided = events["decision_date"].between(events["decision_date"].min() + pd.Timedelta(days=120), last_bar)
    sample = events[decided]
    for event_id, event in sample.sample(12, random_state=1).iterrows():
        own = bars[(bars["ticker"] == event["ticker"]) & (bars["date"] < event["decision_date"])].tail(61)
        returns = np.log(own["close"] / own["previous"]).tail(20)
        assert features.loc[event_id, "vol_realized_20d_pct"] == pytest.approx(returns.std() * 100, rel=1e-9)
        drift = (own["close"].iloc[-1] / own["close"].iloc[-6] - 1) * 100
        assert features.loc[event_id, "vol_drift_5d_pct"] == pytest.approx(drift, rel=1e-9)
        ranges = own.tail(14)
        true_range = np.maximum(ranges["high"], ranges["previous"]) - np.minimum(ranges["low"], ranges["previous"])
        atr = (true_range / ranges["previous"]).mean() * 100
        assert features.loc[event_id, "vol_atr_14d_pct"] == pytest.approx(atr, rel=1e-9)
        vix = bars[(bars["ticker"] == "^VIX") & (bars["date"] < event["decision_date"])].tail(252)["close"]
        assert features.loc[event_id, "mkt_vix_level"] == pytest.approx(vix.iloc[-1])
        assert features.loc[event_id, "mkt_vix_percentile_252d"] == pytest.approx((vix <= vix.iloc[-1]).mean())


def test_no_price_at_or_after_the_decision_time_is_used(
    priced: Settings, prices: pd.DataFrame, sample_db: Path, tmp_path: Path
) -> None:
    """Change every bar (tickers, SPY, ^VIX) from a decision day on, that day's own bar included (known exactly
    at the decision time), and one BMO reaction bar after it: no feature or label of an event decided by then may
    change, later ones must, and the stored-vs-prices check must flag the changed BMO bar."""
    events = _mart(priced, "earnings_events")
    decisions = events["decision_date"].value_counts()
    middle = events["decision_date"].quantile(0.6)
    cutoff = decisions[decisions.index >= middle].index.min()
    changed = prices.copy()
    after = pd.to_datetime(changed["date"]) >= cutoff
    for column in ("open", "high", "low", "close"):
        changed.loc[after, column] *= 1.37
    labels = _mart(priced, "event_labels")
    later_bmo = labels[(labels["timing"] == "BMO") & (labels["reaction_date"] > cutoff + pd.Timedelta(days=7))]
    target = later_bmo.iloc[0]
    bar = (changed["ticker"] == target["ticker"]) & (changed["date"] == f"{target['reaction_date']:%Y-%m-%d}")
    changed.loc[bar, "close"] *= 1.05
    changed.loc[bar, "high"] = changed.loc[bar, ["high", "close"]].max(axis=1)
    quotes = read_dataset(market_dir(priced), QUOTES)
    altered = _build_with(changed, sample_db, tmp_path / "work", quotes)

    full, cut = _features(priced), _features(altered)
    decided = full.index[full["event_timestamp"] <= _close_at(cutoff)]
    assert (full.loc[decided, "event_timestamp"] == _close_at(cutoff)).sum() > 0  # the boundary itself
    assert len(decided) > 200
    columns = [c for c in MODEL_FEATURE_COLUMNS if c in full.columns]
    pd.testing.assert_frame_equal(full.loc[decided, columns], cut.loc[decided, columns])
    later = full.index[full["event_timestamp"] > _close_at(cutoff)]
    differs = (full.loc[later, list(PRICE_FEATURES)] - cut.loc[later, list(PRICE_FEATURES)]).abs() > 1e-9
    assert differs.any(axis=1).sum() > 10, "the test must be able to see a difference at all"

    full_labels = labels.set_index("event_id")
    cut_labels = _mart(altered, "event_labels").set_index("event_id")
    known = full_labels.index[full_labels["outcome_known_at"] < _close_at(cutoff)]
    pd.testing.assert_frame_equal(full_labels.loc[known], cut_labels.loc[known])
    result = current_build(altered)
    assert result is not None
    flagged = [w for w in result.quality_warnings if w.startswith("stored_moves_agree_with_prices")]
    assert flagged and "1 " in flagged[0].split(": ", 1)[1][:3]  # one row: the changed bar


def test_stale_prices_give_no_features(priced: Settings, prices: pd.DataFrame) -> None:
    """Upcoming events decided more than price_staleness_days after the newest bar get no price features."""
    events = _mart(priced, "earnings_events").set_index("event_id")
    features = _features(priced)
    stale = events.index[events["decision_date"] > pd.Timestamp(prices["date"].max()) + pd.Timedelta(days=10)]
    assert len(stale) > 10
    assert features.loc[stale, list(PRICE_FEATURES)].isna().all().all()


def test_build_without_index_series_keeps_ticker_features(
    prices: pd.DataFrame, sample_db: Path, tmp_path: Path
) -> None:
    """Prices of the tickers only (no SPY, ^VIX): the market series' features are NULL, the rest are there."""
    settings = _build_with(prices[~prices["ticker"].isin(["SPY", "^VIX"])], sample_db, tmp_path / "work")
    features = _features(settings)
    assert features["mkt_vix_level"].isna().all() and features["mkt_index_return_20d_pct"].isna().all()
    assert features["vol_realized_20d_pct"].notna().mean() > 0.9


def test_implied_moves_from_stored_quotes(priced: Settings) -> None:
    """Every past event of the sample has its front straddle quoted before the decision; the earnings-only
    move is below the total, and both sit near the realised moves (the sample prices in a 10% premium)."""
    options = _mart(priced, "options_features").set_index("event_id")
    labels = _mart(priced, "event_labels").set_index("event_id")
    quoted = options.loc[labels.index]
    assert quoted["opt_quote_implied_move_pct"].notna().mean() > 0.95
    assert (quoted["opt_quote_inputs_known_at"] < quoted["event_timestamp"]).all()
    both = quoted.dropna(subset=["opt_quote_earnings_move_pct"])
    assert len(both) > 0.9 * len(quoted)
    assert (both["opt_quote_earnings_move_pct"] <= both["opt_quote_implied_move_pct"]).all()
    ratio = quoted["opt_quote_implied_move_pct"].mean() / labels["abs_close_move_pct"].mean()
    assert 1.0 < ratio < 1.6


def test_evaluation_with_and_without_market_features(priced: Settings) -> None:
    """Same events, labels and folds; only the market-store features differ, and the report says how much."""
    from ivcrush.feature_repo.materialize import materialize
    from ivcrush.training.market_features import compare_market_features

    materialize(priced)
    result = compare_market_features(priced, folds=2)
    assert "market-store features have values" in result["note"]
    assert set(result["market_features_with_values"]) >= set(PRICE_FEATURES)
    figures = {row["figure"]: row for row in result["figures"]}
    mae = figures["MAE (trusted)"]
    assert mae["with"] is not None and mae["difference"] == pytest.approx(mae["with"] - mae["without"])
    assert mae["difference"] != 0
    assert figures["MAE, AMC events"]["with"] is not None  # AMC events are evaluated on their reaction days
    assert (Path(result["out_dir"]) / "comparison.json").is_file()

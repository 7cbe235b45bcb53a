"""Metric definitions, the forecast distribution, and the two backtest engines on hand-made events."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.backtest.events import close_utc
from ivcrush.training.backtest.forecasters import (
    check_forecast,
    constant_forecaster,
    oracle_forecaster,
    scaled_history_forecaster,
)
from ivcrush.training.backtest.journal import journal_backtest
from ivcrush.training.backtest.metrics import daily_pnl, format_value, max_drawdown, metrics
from ivcrush.training.backtest.report import summary_text, write_report
from ivcrush.training.backtest.simulate import simulate_backtest
from ivcrush.training.distribution import DEFAULT_TAIL_SCALE, DEFAULT_TAIL_SHAPE, MoveDistribution
from ivcrush.training.reference import ScaledHistory

# ---------------------------------------------------------------------------------------------- metrics


def _trades(pnl: list[float], exits: list[str], entries: list[str] | None = None) -> tuple[pd.Series, ...]:
    exit_dates = pd.Series(pd.to_datetime(exits))
    entry_dates = pd.Series(pd.to_datetime(entries or exits))
    return pd.Series(pnl, dtype=float), exit_dates, entry_dates


def test_win_rate_counts_zeros_separately_and_profit_factor() -> None:
    out = metrics(*_trades([100, 0, -50, 200], ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09"]))
    assert (out["count"], out["wins"], out["losses"], out["zeros"]) == (4, 2, 1, 1)
    assert out["win_rate"] == pytest.approx(0.5)  # the zero stays in the denominator, not a win
    assert out["profit_factor"] == pytest.approx(300 / 50)
    assert (out["avg_win"], out["avg_loss"], out["largest_loss"]) == (150, -50, -50)
    assert out["net_pnl"] == 250


def test_profit_factor_without_losses_is_inf_and_says_so() -> None:
    out = metrics(*_trades([10, 20], ["2025-01-06", "2025-01-07"]))
    assert math.isinf(out["profit_factor"])
    assert format_value("profit_factor", out["profit_factor"]) == "inf (no losses)"
    assert math.isnan(out["largest_loss"])


def test_max_drawdown_follows_exit_dates_not_input_order() -> None:
    # by exit date: +100, -150, +50, -100, +300 -> cumulative 100, -50, 0, -100, 200; peak 100 -> drawdown 200
    pnl, exits, entries = _trades(
        [300, -100, 50, -150, 100], ["2025-01-10", "2025-01-09", "2025-01-08", "2025-01-07", "2025-01-06"]
    )
    assert max_drawdown(pnl, exits, entries) == pytest.approx(200)
    assert metrics(pnl, exits, entries)["max_drawdown"] == pytest.approx(200)
    # a loss first: the peak starts at 0
    assert max_drawdown(*_trades([-30, 10], ["2025-01-06", "2025-01-07"])) == pytest.approx(30)


def test_sharpe_is_on_a_daily_series_with_zero_days_and_sqrt_252() -> None:
    pnl, exits, entries = _trades(
        [100, -50, 200], ["2025-01-06", "2025-01-08", "2025-01-10"], ["2025-01-03", "2025-01-06", "2025-01-06"]
    )
    daily = daily_pnl(pnl, exits, entries)
    # business days from the first entry (Fri 01-03) to the last exit (Fri 01-10); P&L on exit days only
    assert list(daily.index) == list(pd.bdate_range("2025-01-03", "2025-01-10"))
    assert daily.tolist() == [0, 100, 0, -50, 0, 200]
    returns = np.array([0, 100, 0, -50, 0, 200]) / 50_000
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(252)
    out = metrics(pnl, exits, entries, equity=50_000)
    assert out["sharpe"] == pytest.approx(expected)
    assert out["days"] == 6
    assert out["ann_return_pct"] == pytest.approx(returns.mean() * 252 * 100)
    other = metrics(pnl, exits, entries, equity=10_000)
    assert other["sharpe"] == pytest.approx(expected)  # a fixed equity does not change the ratio
    assert other["ann_return_pct"] == pytest.approx(5 * out["ann_return_pct"])


# ------------------------------------------------------------------------------------ forecast distribution


def test_forecasters_give_the_move_distributions_parameters() -> None:
    """Quantiles and the generalized Pareto tail: scaled history with its fitted tail (training.reference),
    a forecaster without a tail gets the default one."""
    events = _events()
    train, test = events.iloc[:200], events.iloc[200:230]
    forecast = check_forecast(scaled_history_forecaster(train, test), test)
    reference = ScaledHistory.fit(train).distribution(test)
    np.testing.assert_allclose(forecast[list(QUANTILE_NAMES)].to_numpy(), reference.quantiles)
    np.testing.assert_allclose(forecast["tail_shape"], reference.tail_shape)
    np.testing.assert_allclose(forecast["tail_scale"], reference.tail_scale)
    plain = check_forecast(constant_forecaster([1, 2, 3, 4, 5])(train, test), test)
    assert (plain["tail_shape"] == DEFAULT_TAIL_SHAPE).all() and (plain["tail_scale"] == DEFAULT_TAIL_SCALE).all()


# ---------------------------------------------------------------------------------------- events datasets


def _events(seed: int = 0, tickers: int = 30, start: str = "2022-01-03", quarters: int = 12) -> pd.DataFrame:
    """Hand-made events dataset: each ticker reports once a quarter; a third are AMC with untrusted labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(tickers):
        for q in range(quarters):
            day = pd.Timestamp(start) + pd.offsets.BDay(q * 63 + t)
            amc = t % 3 == 0
            move = float(rng.gamma(2.0, 2.0))
            rows.append(
                {
                    "ticker": f"T{t:02d}",
                    "earnings_date": day,
                    "reaction_date": day + pd.offsets.BDay(1) if amc else day,
                    "timing": "AMC" if amc else "BMO",
                    "label_trusted": not amc,
                    "event_timestamp": close_utc(day if amc else day - pd.offsets.BDay(1)),
                    "outcome_known_at": close_utc(day + pd.offsets.BDay(1) if amc else day),
                    "abs_close_move_pct": move,
                    "signed_close_move_pct": move * (1 if rng.random() < 0.5 else -1),
                    "prev_close": 100.0,
                    "hm_close_mean_12q": 4.0,
                    "hm_prior_events": min(q, 12),
                    "hm_close_mean_12q_all_rows": 4.0,
                }
            )
    return pd.DataFrame(rows)


def _positions_for(events: pd.DataFrame, pnl: dict[int, float]) -> pd.DataFrame:
    """One short-put position per chosen event, entered on its decision day, closed on its reaction day."""
    rows = []
    for i, p in pnl.items():
        ev = events.loc[i]
        entry = ev["event_timestamp"].tz_convert("America/New_York").tz_localize(None).normalize()
        rows.append(
            {
                "position_id": f"P{i}",
                "symbol": ev["ticker"],
                "entry_date": entry,
                "exit_date": ev["reaction_date"],
                "short_strikes": (100.0 * (1 - (2 + i % 7) / 100),),  # 2..8% below the close
                "pnl": p,
                "structure": "single",
                "crosses_earnings": True,
                "earnings_date": ev["earnings_date"],
                "earnings_timing": ev["timing"],
                "reaction_date": ev["reaction_date"],
            }
        )
    return pd.DataFrame(rows)


def _spy(forecaster, calls: list):
    def spy(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        calls.append((train, test))
        return forecaster(train, test)

    return spy


def test_journal_policy_is_chosen_on_the_early_window_only() -> None:
    events = _events()
    late = events[(events["earnings_date"] >= "2024-01-01") & events["label_trusted"]].index[:10]
    early = events[(events["earnings_date"] < "2023-06-01") & events["label_trusted"]].index[-10:]
    split = pd.Timestamp("2023-09-01")
    forecaster = scaled_history_forecaster
    # early: positions with near strikes (high breach probability) lose
    early_pnl = {i: (-500.0 if (2 + i % 7) <= 4 else 300.0) for i in early}
    base = journal_backtest(
        _positions_for(events, {**early_pnl, **dict.fromkeys(late, 100.0)}),
        events,
        forecaster,
        policy_split_date=split,
    )
    flipped = journal_backtest(
        _positions_for(events, {**early_pnl, **{i: -1000.0 * (k + 1) for k, i in enumerate(late)}}),
        events,
        forecaster,
        policy_split_date=split,
    )
    assert base["threshold"] == flipped["threshold"] < 1.0
    assert (base["early_count"], base["later_count"]) == (10, 10)
    assert "before 2023-09-01" in base["threshold_chosen"]
    assert not base["grid"].empty
    # the filter is applied to the later window only and its skipped rows are listed
    later = base["positions"][base["positions"]["window"] == "apply (later)"]
    assert len(base["skipped"]) == int((later["p_breach"] > base["threshold"]).sum())
    assert base["side_by_side"].loc["take all", "count"] == 10
    assert any("SAMPLE TOO SMALL" in n for n in base["notes"])


def test_journal_forecasts_are_trained_on_outcomes_known_before_the_entry_close() -> None:
    events = _events()
    chosen = events[events["label_trusted"]].index[100:130]
    calls: list = []
    result = journal_backtest(
        _positions_for(events, dict.fromkeys(chosen, 1.0)), events, _spy(constant_forecaster([1, 2, 3, 4, 5]), calls)
    )
    assert calls
    for train, test in calls:
        entry = test["event_timestamp"].max()  # positions are entered on their decision day
        assert (train["outcome_known_at"] < entry).all()
        assert train["label_trusted"].all()
        assert test["ticker"].nunique() == len(test)
    positions = result["positions"]
    assert positions["p_breach"].between(0, 1).all()
    # the breach probability is the forecast's MoveDistribution at the strike distance (one object everywhere)
    expected = MoveDistribution.from_frame(positions).sf(positions["strike_distance_pct"].to_numpy())
    np.testing.assert_allclose(positions["p_breach"], expected)


def test_journal_backtest_skips_positions_without_a_comparable_price() -> None:
    events = _events()
    i = events[events["label_trusted"]].index[200]
    positions = _positions_for(events, {i: 50.0})
    positions.at[0, "short_strikes"] = (950.0,)  # a split-adjusted history against unadjusted strikes
    result = journal_backtest(positions, events, constant_forecaster([1, 2, 3, 4, 5]))
    row = result["positions"].iloc[0]
    assert math.isnan(row["p_breach"]) and "not comparable" in row["forecast_note"]


def test_simulate_labels_assumed_implied_moves_and_uses_the_same_events_for_the_baseline() -> None:
    events = _events()
    implied = events.loc[events.index[::5], ["ticker", "earnings_date"]].assign(implied_move_pct=6.0)
    calls: list = []
    result = simulate_backtest(
        events, _spy(scaled_history_forecaster, calls), implied_moves=implied, k=1.0, min_train_events=20
    )
    out = result["events"]
    assumed = out["implied_source"] == "assumed implied move (1 x 2.0 mean)"
    assert assumed.any() and (out.loc[~assumed, "implied_source"] == "market implied move").all()
    assert np.allclose(out.loc[assumed, "implied_move_pct"], 4.0)
    assert np.allclose(out.loc[~assumed, "implied_move_pct"], 6.0)
    # 2.0's rule on the same events: implied / 2.0 mean >= 1.2; ML's rule from the walk-forward forecast
    assert (out["trade_2_0"] == (out["implied_move_pct"] / out["hm_close_mean_12q_all_rows"] >= 1.2)).all()
    assert out.loc[assumed, "trade_2_0"].sum() == 0  # k = 1: the assumed VRP is exactly 1
    assert out.loc[~assumed, "trade_2_0"].all()
    trusted = result["trusted"]["straddle"]
    assert trusted.loc["take all", "count"] == int(out["label_trusted"].sum())
    assert trusted.loc["2.0 rule (VRP >= 1.2)", "count"] == int((out["trade_2_0"] & out["label_trusted"]).sum())
    assert "assumed implied move (1 x 2.0 mean)" in trusted.loc["take all", "implied_move"]  # every row says
    assert trusted.loc["2.0 rule (VRP >= 1.2)", "implied_move"] == "market implied move"  # which it used
    assert any("assumed implied move" in n for n in result["notes"])
    assert any("falsely rosy" in n for n in result["notes"])
    # straddle P&L in % of spot: implied - |move|
    assert np.allclose(out["pnl_straddle_pct"], out["implied_move_pct"] - out["abs_close_move_pct"])
    # the ML rule reads the forecast's MoveDistribution (scaled history with its fitted tail): mean and exceedance
    distribution = MoveDistribution.from_frame(out)
    assert (out["tail_scale"] != DEFAULT_TAIL_SCALE).any(), "the fitted tail, not the default"
    np.testing.assert_allclose(out["forecast_mean_pct"], distribution.mean())
    np.testing.assert_allclose(out["p_exceeds_implied"], distribution.sf(out["implied_move_pct"].to_numpy()))
    # walk-forward: every call trained only on outcomes known before its quarter began
    for train, test in calls:
        assert train["outcome_known_at"].max() < test["event_timestamp"].min()
        assert train["label_trusted"].all()


def test_simulate_oracle_strangle_never_loses_more_than_its_credit_when_forecast_is_exact() -> None:
    events = _events()
    result = simulate_backtest(events, oracle_forecaster(), k=1.0, min_train_events=20)
    out = result["events"]
    # the strangle's shorts sit at max(q90, implied) >= |move| for an exact forecast: it keeps its credit
    assert np.allclose(out["pnl_strangle_pct"], out["strangle_credit_pct"])
    assert (out["strangle_distance_pct"] >= out["implied_move_pct"]).all()


def test_reports_are_written_for_both_kinds(tmp_path: Path) -> None:
    events = _events(tickers=12, quarters=8)
    chosen = events[events["label_trusted"]].index[40:60]
    positions = _positions_for(events, {i: (-200.0 if k % 4 == 0 else 150.0) for k, i in enumerate(chosen)})
    journal = journal_backtest(positions, events, scaled_history_forecaster)
    journal["journal_positions"] = journal["journal_positions"].assign(
        description="short put", rolled_from=None, legs=1
    )
    page = write_report(journal, tmp_path / "journal")
    assert page.is_file() and (tmp_path / "journal" / "equity_journal.png").is_file()
    assert "Threshold" in page.read_text()
    assert "Policy threshold" in summary_text(journal)
    sim = simulate_backtest(events, scaled_history_forecaster, k=1.3, min_train_events=20)
    page = write_report(sim, tmp_path / "sim")
    assert "assumed implied move (1.3 x 2.0 mean)" in page.read_text()
    assert (tmp_path / "sim" / "equity_straddle.png").is_file()
    assert "assumed implied move (1.3 x 2.0 mean)" in summary_text(sim)

"""The backtests on hand-made data: metrics and their intervals, account returns, out-of-sample forecasts read
from an evaluation, roll chains, the walk-forward policy, costs, the simulation's break-even, JSON and the report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.settings import Costs, Settings
from ivcrush.training.backtest import policy
from ivcrush.training.backtest.campaigns import build_campaigns, capital_at_risk
from ivcrush.training.backtest.events import add_decision_spot
from ivcrush.training.backtest.export import result_json
from ivcrush.training.backtest.forecasts import BacktestError, attach_forecasts, evaluation_dir, load_forecasts
from ivcrush.training.backtest.journal import journal_backtest
from ivcrush.training.backtest.metrics import (
    MIN_ANNUAL_DAYS,
    account_returns,
    bootstrap_comparison,
    capital_in_use,
    max_drawdown,
    metrics,
)
from ivcrush.training.backtest.report import figure, money, text_tables, write_report
from ivcrush.training.backtest.simulate import CSV_SOURCE, QUOTE_SOURCE, SCAN_SOURCE, cost_pct, simulate_backtest
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import reg_t_naked_margin

NEW_YORK = "America/New_York"


def _close_utc(day: pd.Timestamp) -> pd.Timestamp:
    return (pd.Timestamp(day).normalize() + pd.Timedelta(hours=16)).tz_localize(NEW_YORK).tz_convert("UTC")


# ---------------------------------------------------------------------------------------------- metrics


def _trades(pnl: list[float], exits: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    dates = pd.Series(pd.to_datetime(exits))
    return pd.Series(pnl, dtype=float), dates, dates


def test_win_rate_counts_zeros_separately_and_profit_factor() -> None:
    out = metrics(*_trades([100, 0, -50, 200], ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09"]))
    assert (out["count"], out["wins"], out["losses"], out["zeros"]) == (4, 2, 1, 1)
    assert out["win_rate"] == pytest.approx(0.5)
    assert out["profit_factor"] == pytest.approx(300 / 50)
    assert out["net_pnl"] == 250
    no_loss = metrics(*_trades([10, 20], ["2025-01-06", "2025-01-07"]))
    assert math.isinf(no_loss["profit_factor"]) and figure("profit_factor", no_loss["profit_factor"]) == "inf (no loss)"


def test_money_is_written_with_the_dollar_sign_first() -> None:
    assert money(157998.4) == "$157,998" and money(-6432.45) == "-$6,432" and money(math.nan) == "n/a"
    assert figure("net_pnl", 157998.0) == "$157,998"


def test_max_drawdown_follows_exit_dates_not_input_order() -> None:
    pnl, exits, entries = _trades(
        [300, -100, 50, -150, 100], ["2025-01-10", "2025-01-09", "2025-01-08", "2025-01-07", "2025-01-06"]
    )
    assert max_drawdown(pnl, exits, entries) == pytest.approx(200)
    assert max_drawdown(*_trades([-30, 10], ["2025-01-06", "2025-01-07"])) == pytest.approx(30)


def test_annualised_figures_only_from_60_trading_days_on_the_settings_equity() -> None:
    short = pd.DataFrame({"pnl": [500.0, 700.0], "entry_date": pd.to_datetime(["2025-01-02"] * 2)})
    short["exit_date"] = pd.to_datetime(["2025-01-03", "2025-01-06"])
    out = account_returns(short, equity=100_000)
    assert out["sharpe"] is None and out["ann_return_pct"] is None and "not annualised" in out["annualised"]
    assert out["total_return_pct"] == pytest.approx(1.2) and "exit-booked" in out["basis"]
    days = pd.bdate_range("2025-01-02", periods=MIN_ANNUAL_DAYS)
    long = pd.DataFrame({"pnl": np.where(np.arange(len(days)) % 3 == 0, 300.0, -50.0)})
    long["entry_date"], long["exit_date"] = days[0], days
    out = account_returns(long, equity=100_000)
    daily = long["pnl"].to_numpy() / 100_000
    assert out["sharpe"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(252))
    assert out["ann_return_pct"] == pytest.approx(daily.mean() * 252 * 100)


def test_bootstrap_compares_take_all_and_filtered_on_the_same_draws() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"pnl": rng.normal(100, 500, 80), "exit_date": pd.bdate_range("2024-01-02", periods=80)})
    taken = pd.Series(frame["pnl"] > -400)
    table = bootstrap_comparison(frame, taken, resamples=500)
    assert table.at["count", "take_all"] == 80 and table.at["count", "filtered"] == taken.sum()
    for name in ("win_rate", "profit_factor", "net_pnl", "max_drawdown"):
        for label in ("take_all", "filtered"):
            assert table.at[name, f"{label}_lo"] <= table.at[name, label] <= table.at[name, f"{label}_hi"]
    assert table.at["net_pnl", "difference"] == pytest.approx(-frame["pnl"][~taken].sum())
    everything = bootstrap_comparison(frame, pd.Series(True, index=frame.index), resamples=200)
    assert (everything.loc["net_pnl", ["difference_lo", "difference_hi"]] == 0).all()
    assert table.equals(bootstrap_comparison(frame, taken, resamples=500))  # a fixed seed


# ------------------------------------------------------------------------------- out-of-sample forecasts


def _evaluation(folder: Path, events: pd.DataFrame, move_skill: bool, cut: str = "2023-01-01") -> Path:
    """A walk-forward evaluation folder as `ivcrush evaluate` writes it: two folds split at `cut`."""
    folder.mkdir(parents=True, exist_ok=True)
    decided = pd.to_datetime(events["event_timestamp"], utc=True)
    rows = events.assign(fold=np.where(decided < pd.Timestamp(cut, tz="UTC"), 0, 1))
    rows = rows[decided >= pd.Timestamp("2022-07-01", tz="UTC")]
    scale = rows["hm_close_mean_12q_all_rows"].to_numpy()[:, None]
    quantiles = scale * np.array([0.3, 0.6, 1.0, 1.5, 2.2])
    out = rows[["ticker", "earnings_date", "fold"]].copy()
    out[list(QUANTILE_NAMES)] = quantiles
    out[[f"ref_{q}" for q in QUANTILE_NAMES]] = quantiles * 1.5
    out["tail_shape"], out["tail_scale"], out["ref_tail_shape"], out["ref_tail_scale"] = 0.05, 0.3, 0.1, 0.4
    out["p_up"] = 0.9
    out.to_csv(folder / "predictions.csv", index=False)
    folds = [
        {"fold": 0, "train_last_outcome_known_at": "2022-06-29 20:00:00+00:00", "test_first_decision": "2022-07-01",
         "test_last_decision": cut},
        {"fold": 1, "train_last_outcome_known_at": str(pd.Timestamp(cut, tz="UTC") - pd.Timedelta(days=2)),
         "test_first_decision": cut, "test_last_decision": "2025-01-01"},
    ]  # fmt: skip
    metrics_json = {
        "verdicts": {"move_size": {"skill": move_skill}, "direction": {"skill": False}},
        "setup": {"folds": folds},
        "dataset": {"build_id": "b1"},
        "created_at": "2025-01-01T00:00:00",
    }
    (folder / "metrics.json").write_text(json.dumps(metrics_json))
    return folder


def _events(tickers: int = 12, quarters: int = 16, seed: int = 0) -> pd.DataFrame:
    """Hand-made events like `event_frame`: each ticker reports once a quarter; a third are AMC (untrusted)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(tickers):
        for q in range(quarters):
            day = pd.Timestamp("2021-01-04") + pd.offsets.BDay(q * 63 + t)
            amc = t % 3 == 0
            move = float(rng.gamma(2.0, 2.0))
            rows.append(
                {
                    "event_id": f"T{t:02d}-{q}",
                    "ticker": f"T{t:02d}",
                    "earnings_date": day,
                    "reaction_date": day + pd.offsets.BDay(1) if amc else day,
                    "timing": "AMC" if amc else "BMO",
                    "label_trusted": not amc,
                    "event_timestamp": _close_utc(day if amc else day - pd.offsets.BDay(1)),
                    "outcome_known_at": _close_utc(day + pd.offsets.BDay(1) if amc else day),
                    "abs_close_move_pct": move,
                    "signed_close_move_pct": move * (1 if rng.random() < 0.5 else -1),
                    "prev_close": 100.0,
                    "hm_prior_events": min(q, 12),
                    "hm_close_mean_12q_all_rows": 4.0 + t % 4,
                    "opt_implied_move_pct": np.nan,
                }
            )
    return add_decision_spot(pd.DataFrame(rows))


def test_forecasts_are_the_distribution_serving_would_use(tmp_path: Path) -> None:
    events = _events()
    model, info = load_forecasts(_evaluation(tmp_path / "model", events, move_skill=True))
    reference, ref_info = load_forecasts(_evaluation(tmp_path / "ref", events, move_skill=False))
    assert "model" in info["basis"] and "scaled history" in ref_info["basis"]
    np.testing.assert_allclose(reference[list(QUANTILE_NAMES)], model[list(QUANTILE_NAMES)] * 1.5)
    assert (model["tail_scale"] == 0.3).all() and (reference["tail_scale"] == 0.4).all()
    assert (model["p_up"] == 0.5).all()  # the direction model failed its gate: P(up) = 0.5, not its 0.9
    assert set(model["trained_until"].dt.year) == {2022}


def test_a_forecast_from_a_model_that_knew_the_outcome_is_refused(tmp_path: Path) -> None:
    events = _events()
    forecasts, _ = load_forecasts(_evaluation(tmp_path, events, move_skill=True))
    attached = attach_forecasts(events, forecasts)
    known = attached["q50"].notna()
    assert known.any() and (~known).any()  # events before the first fold have no forecast
    assert (attached.loc[known, "trained_until"] < attached.loc[known, "event_timestamp"]).all()
    forecasts.loc[forecasts.index[5], "trained_until"] = pd.Timestamp("2030-01-01", tz="UTC")
    with pytest.raises(BacktestError, match="not before its decision"):
        attach_forecasts(events, forecasts)


# ------------------------------------------------------------------------------------ campaigns and capital


def _position(pid: str, symbol: str, entry: str, exit_: str, pnl: float, **extra: object) -> dict:
    row = {
        "position_id": pid,
        "symbol": symbol,
        "entry_date": pd.Timestamp(entry),
        "exit_date": pd.Timestamp(exit_),
        "option_types": "PUT",
        "short_strikes": (15.0,),
        "short_put": 15.0,
        "long_put": math.nan,
        "short_call": math.nan,
        "long_call": math.nan,
        "legs": 1,
        "contracts": 174.0,
        "shares": 0.0,
        "net_open_premium": 2726.67,
        "is_credit": True,
        "pnl": pnl,
        "structure": "single",
        "description": "short put",
        "rolled_from": None,
        "crosses_earnings": False,
        "earnings_date": pd.NaT,
        "earnings_timing": "none",
        "reaction_date": pd.NaT,
    }
    return row | extra


def _asan(rolled_from: str | None = "ASAN:1", reopened: str = "2025-06-05") -> pd.DataFrame:
    earnings = {"crosses_earnings": True, "earnings_date": pd.Timestamp("2025-06-03"), "earnings_timing": "AMC"}
    return pd.DataFrame(
        [
            _position("ASAN:1", "ASAN", "2025-06-03", "2025-06-05", -6432.45, **earnings),
            _position("ASAN:2", "ASAN", reopened, "2025-06-12", -4393.66, rolled_from=rolled_from),
            _position("NVDA:3", "NVDA", "2025-06-05", "2025-06-06", 500.0),
        ]
    )


def test_a_roll_is_one_campaign_for_pnl_and_earnings_attribution() -> None:
    campaigns = build_campaigns(_asan(), roll_days=2)
    asan = campaigns[campaigns["symbol"] == "ASAN"]
    assert len(asan) == 1 and len(campaigns) == 2
    row = asan.iloc[0]
    assert row["pnl"] == pytest.approx(-10826.11) and row["crosses_earnings"] and row["positions"] == 2
    assert row["lead_position"] == "ASAN:1" and row["exit_date"] == pd.Timestamp("2025-06-12")
    # the same without rolled_from: reopened within roll_days business days of the close
    linked = build_campaigns(_asan(rolled_from=None, reopened="2025-06-09"), roll_days=2)
    assert len(linked[linked["symbol"] == "ASAN"]) == 1
    # too late, or another kind of position, is a new campaign
    assert len(build_campaigns(_asan(rolled_from=None, reopened="2025-06-12"), roll_days=2)) == 3
    other_kind = _asan(rolled_from=None)
    other_kind.loc[1, "option_types"] = "CALL"
    assert len(build_campaigns(other_kind, roll_days=2)) == 3


def test_capital_at_risk_is_max_loss_or_reg_t_margin() -> None:
    naked = pd.Series(_position("A", "A", "2025-01-02", "2025-01-03", 0.0))
    amount, basis = capital_at_risk(naked, spot=18.0)
    premium = 2726.67 / (100 * 174)
    assert amount == pytest.approx(reg_t_naked_margin(18.0, [("put", 15.0, premium)]) * 174)
    assert "Reg-T" in basis and "spot" in basis
    assert "short strike" in capital_at_risk(naked, spot=None)[1]
    spread = pd.Series(_position("B", "B", "2025-01-02", "2025-01-03", 0.0, long_put=12.5, contracts=10.0,
                                 net_open_premium=500.0, legs=2))  # fmt: skip
    assert capital_at_risk(spread, spot=18.0) == (pytest.approx(2.5 * 100 * 10 - 500.0), "max loss (defined risk)")
    long_call = pd.Series(
        _position("C", "C", "2025-01-02", "2025-01-03", 0.0, short_put=math.nan, net_open_premium=-800.0)
    )
    assert capital_at_risk(long_call, spot=None) == (800.0, "premium paid (long options)")


# ---------------------------------------------------------------------------------------------- policy


def _scored(n: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    entry = pd.bdate_range("2024-01-02", periods=n, freq="3B")
    p_loss = rng.uniform(0, 0.5, n)
    return pd.DataFrame(
        {
            "entry_date": entry,
            "exit_date": entry + pd.offsets.BDay(1),
            "p_loss": p_loss,
            "pnl": np.where(rng.random(n) < p_loss, -2000.0, 600.0),
            "crosses_earnings": True,
        }
    )


def test_the_threshold_of_a_month_uses_only_campaigns_closed_before_it() -> None:
    frame = _scored()
    months, taken = policy.walk_forward(frame)
    for i, month in enumerate(months["month"]):
        start = pd.Period(month).start_time
        changed = frame.copy()
        later = changed["exit_date"] >= start
        changed.loc[later, "pnl"] = -changed.loc[later, "pnl"] * 7  # the future changes completely
        again, _ = policy.walk_forward(changed)
        assert again.at[i, "threshold"] == months.at[i, "threshold"]
    threshold = (
        pd.to_datetime(frame["entry_date"])
        .dt.to_period("M")
        .astype(str)
        .map(dict(zip(months["month"], months["threshold"], strict=True)))
    )
    assert (taken == ~(frame["p_loss"] > threshold)).all()
    assert not months["live"].iloc[0] and months["threshold"].iloc[0] == 1.0  # warm-up takes all


def test_one_large_loss_cannot_flip_the_threshold() -> None:
    history = pd.DataFrame({"p_loss": np.linspace(0.01, 0.3, 30), "pnl": 500.0})
    history.loc[history.index[-2], "pnl"] = -50_000.0  # one disaster at P(loss) 0.29
    threshold, _ = policy.choose(history, policy.GRID, min_side=5)
    assert threshold == 1.0  # every threshold that skips it gains only through that one loss
    table = policy.score_grid(history, policy.GRID, min_side=5)
    assert not table.loc[table["threshold"] == 0.25, "eligible"].item()  # skips 2 campaigns: fewer than 5
    assert not table.loc[table["threshold"] == 0.2, "eligible"].item()  # skips 9, gains only through one
    history.loc[history.index[-8:], "pnl"] = -3000.0  # a pattern, not one loss: the filter acts
    assert policy.choose(history, policy.GRID, min_side=5)[0] < 1.0


# ------------------------------------------------------------------------------------------ journal replay


def _journal_inputs(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    events = _events()
    forecasts, _ = load_forecasts(_evaluation(tmp_path, events, move_skill=True))
    events = attach_forecasts(events, forecasts)
    trusted = events[events["label_trusted"] & events["q50"].notna()].reset_index(drop=True)
    rows = []
    for i, ev in trusted.iterrows():
        entry = ev["event_timestamp"].tz_convert(NEW_YORK).tz_localize(None).normalize()
        distance = 2 + i % 7
        rows.append(
            _position(
                f"P{i}",
                ev["ticker"],
                str(entry.date()),
                str(ev["reaction_date"].date()),
                400.0 if ev["abs_close_move_pct"] < distance else -1500.0,
                short_put=100.0 - distance,
                contracts=5.0,
                net_open_premium=250.0,
                crosses_earnings=True,
                earnings_date=ev["earnings_date"],
                earnings_timing=ev["timing"],
            )
        )
    return pd.DataFrame(rows), events


def test_journal_replay_scores_each_lead_with_its_forecast_net_of_costs(tmp_path: Path) -> None:
    positions, events = _journal_inputs(tmp_path)
    result = journal_backtest(positions, events, costs=Costs(), equity=100_000, roll_days=2, resamples=200)
    campaigns = result["campaigns"]
    scored = campaigns[campaigns["p_loss"].notna()]
    assert len(scored) == len(positions)
    distribution = MoveDistribution.from_frame(scored)
    net_credit = (scored["credit_pct"] - scored["cost_pct"]).to_numpy()
    expected = distribution.prob_loss(net_credit, scored["strike_distance_pct"].to_numpy(), 1e6, 1e6, 1e6)
    np.testing.assert_allclose(scored["p_loss"], expected)
    assert (scored["cost_pct"] > 0).all()
    dearer = journal_backtest(
        positions, events, costs=Costs(commission_per_contract=5.0), equity=100_000, roll_days=2, resamples=200
    )["campaigns"]
    assert (dearer["p_loss"] >= campaigns["p_loss"]).all() and (dearer["ev"] < campaigns["ev"]).all()
    assert set(result["comparison"]) == {"earnings campaigns", "all campaigns"}
    assert result["policy"]["live"].any()


def test_journal_json_is_valid_with_numbers_as_numbers(tmp_path: Path) -> None:
    positions, events = _journal_inputs(tmp_path)
    result = journal_backtest(positions, events, costs=Costs(), equity=100_000, roll_days=2, resamples=200)
    parsed = json.loads(result_json(result))
    first = parsed["campaigns"][0]
    assert isinstance(first["pnl"], float) and isinstance(first["positions"], int)
    assert isinstance(parsed["comparison"]["earnings campaigns"][0]["take_all"], float)
    assert parsed["policy"][0]["month"] and isinstance(parsed["policy"][0]["threshold"], float)


# ------------------------------------------------------------------------------------------------ simulate


def test_simulate_prints_no_pnl_without_market_premiums_and_finds_break_even_ratios(tmp_path: Path) -> None:
    events = _events()
    forecasts, _ = load_forecasts(_evaluation(tmp_path, events, move_skill=True))
    result = simulate_backtest(attach_forecasts(events, forecasts), costs=Costs())
    assert result["tables"] == {} and result["trades"].empty
    assert any(n.startswith("NO P&L") for n in result["notes"])
    summary = result["break_even"].set_index("rule")
    curve = result["break_even_curve"]
    two = curve[curve["rule"].str.startswith("2.0 rule")]
    assert two.loc[two["k"] >= 1.2, "trades"].gt(0).all()  # the 2.0 rule trades once k reaches its tier
    trusted = attach_forecasts(events, forecasts)
    trusted = trusted[trusted["label_trusted"] & trusted["q50"].notna()]
    k_all = summary.loc["take all", "break_even_k"]  # sum(k mean - move - costs) >= 0 from k on

    def net(k: float) -> float:
        implied = k * trusted["hm_close_mean_12q_all_rows"]
        return float(
            (implied - trusted["abs_close_move_pct"] - cost_pct(Costs(), trusted["decision_spot"], implied)).sum()
        )

    assert net(k_all) >= 0 > net(k_all - 0.01)
    json.loads(result_json(result))


def test_simulate_pnl_only_at_market_premiums_labelled_and_net_of_costs(tmp_path: Path) -> None:
    events = _events()
    forecasts, _ = load_forecasts(_evaluation(tmp_path, events, move_skill=True))
    events = attach_forecasts(events, forecasts)
    with_forecast = events[events["q50"].notna()]
    events.loc[with_forecast.index[::4], "opt_implied_move_pct"] = 6.0
    csv = with_forecast.loc[with_forecast.index[1::4], ["ticker", "earnings_date"]].assign(implied_move_pct=7.0)
    result = simulate_backtest(events, costs=Costs(), implied_moves=csv)
    trades = result["trades"]
    assert set(trades["premium_source"]) == {SCAN_SOURCE, CSV_SOURCE}
    assert len(trades) == len(with_forecast.index[::4]) + len(csv)
    assert (trades.loc[trades["premium_source"] == CSV_SOURCE, "implied_move_pct"] == 7.0).all()
    expected = trades["implied_move_pct"] - trades["abs_close_move_pct"] - trades["cost_straddle_pct"]
    np.testing.assert_allclose(trades["pnl_straddle_pct"], expected)
    assert (trades["cost_straddle_pct"] > 0).all()
    table = result["tables"]["trusted"]["straddle"]
    assert all("from" in source for source in table["premiums"])
    parsed = json.loads(result_json(result))
    assert isinstance(parsed["trades"][0]["pnl_straddle_pct"], float)


def test_simulate_takes_quoted_straddles_where_2_0_never_scanned(tmp_path: Path) -> None:
    events = _events()
    forecasts, _ = load_forecasts(_evaluation(tmp_path, events, move_skill=True))
    events = attach_forecasts(events, forecasts)
    with_forecast = events[events["q50"].notna()]
    events["opt_quote_implied_move_pct"] = np.nan
    events.loc[with_forecast.index[::3], "opt_quote_implied_move_pct"] = 7.5
    events.loc[with_forecast.index[::6], "opt_implied_move_pct"] = 6.0  # 2.0's scan wins where it exists
    trades = simulate_backtest(events, costs=Costs())["trades"]
    assert set(trades["premium_source"]) == {SCAN_SOURCE, QUOTE_SOURCE}
    assert len(trades) == len(with_forecast.index[::3])
    assert (trades.loc[trades["premium_source"] == QUOTE_SOURCE, "implied_move_pct"] == 7.5).all()
    assert (trades.loc[trades["premium_source"] == SCAN_SOURCE, "implied_move_pct"] == 6.0).all()


# -------------------------------------------------------------------------------------------------- report


def test_one_self_contained_page_per_run_with_the_threshold_over_time(tmp_path: Path) -> None:
    positions, events = _journal_inputs(tmp_path / "eval")
    result = journal_backtest(positions, events, costs=Costs(), equity=100_000, roll_days=2, resamples=200)
    page = write_report(result, tmp_path / "out" / "journal.html").read_text()
    assert "Chosen threshold over time" in page and page.count("data:image/png;base64,") >= 3
    assert 'src="http' not in page and '.png"' not in page
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["journal.html"]
    titles = [t.title for t in text_tables(result)]
    assert any(t.startswith("Earnings campaigns: take all vs") for t in titles)
    simulated = simulate_backtest(events, costs=Costs())
    assert "Break-even" in write_report(simulated, tmp_path / "out" / "sim.html").read_text()


def test_capital_in_use_adds_up_campaigns_open_on_the_same_day() -> None:
    frame = pd.DataFrame(
        {
            "entry_date": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-10"]),
            "exit_date": pd.to_datetime(["2025-01-06", "2025-01-07", "2025-01-13"]),
            "capital": [10_000.0, 25_000.0, 5_000.0],
        }
    )
    assert capital_in_use(frame) == 35_000.0


def test_no_evaluation_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BacktestError, match="run `ivcrush evaluate` first"):
        evaluation_dir(Settings(workdir=tmp_path), SimpleNamespace(build_id="b1"))  # type: ignore[arg-type]
    with pytest.raises(BacktestError, match=r"no metrics\.json and predictions\.csv"):
        evaluation_dir(Settings(workdir=tmp_path), SimpleNamespace(build_id="b1"), tmp_path)  # type: ignore[arg-type]

"""Calibration of the move-size quantiles: conformal shifts, the thin-history widening, the fitted GPD tail,
the time-ordered calibration slice, and JSON storage with the model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.training.calibration import (
    MIN_EXCEEDANCES,
    POOLED_WEIGHT,
    Calibration,
    calibrate_window,
    calibration_slices,
    conformal_shift,
    fit_calibration,
    fit_tail,
    history_stratum,
    refit,
)
from ivcrush.training.distribution import DEFAULT_TAIL_SCALE, DEFAULT_TAIL_SHAPE
from ivcrush.training.distribution_floats import MAX_TAIL_SHAPE

LEVELS = np.asarray(QUANTILE_LEVELS)
LOGNORMAL_Z = np.array([-1.2816, -0.6745, 0.0, 0.6745, 1.2816])  # standard normal quantiles at the levels


def lognormal_events(n: int, seed: int, spread: float = 0.9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moves y = scale * exp(spread * N(0,1)) and the quantiles of a model that believes spread 0.5."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(1.0, 6.0, n)
    y = scale * np.exp(spread * rng.standard_normal(n))
    narrow = scale[:, None] * np.exp(0.5 * LOGNORMAL_Z[None, :])
    return narrow, y, rng.integers(0, 12, n)


def test_history_strata() -> None:
    assert list(history_stratum([0, 1, 2, 3, 5, 6, 40, np.nan])) == ["0", "1-2", "1-2", "3-5", "3-5", "6+", "6+", "0"]


def test_conformal_shift_is_the_centred_order_statistic() -> None:
    scores = np.arange(19.0, 0.0, -1.0)  # 19 scores: (n + 1) * level = 2, 5, 10, 15, 18
    assert [conformal_shift(scores, level) for level in LEVELS] == [2.0, 5.0, 10.0, 15.0, 18.0]
    assert conformal_shift(np.arange(1.0, 10.0), 0.9) == 9.0
    assert conformal_shift(np.arange(1.0, 4.0), 0.1) == 1.0  # never outside the scores


def test_conformal_shifts_repair_too_narrow_quantiles_on_new_events() -> None:
    q, y, prior = lognormal_events(3000, seed=1)
    calibration = fit_calibration(q, y, prior)
    q_new, y_new, prior_new = lognormal_events(20000, seed=2)
    before = np.mean((y_new >= q_new[:, 0]) & (y_new <= q_new[:, -1]))
    adjusted = calibration.adjust(q_new, prior_new)
    after = np.mean((y_new >= adjusted[:, 0]) & (y_new <= adjusted[:, -1]))
    assert before < 0.55
    assert after == pytest.approx(0.8, abs=0.02)
    assert np.allclose((y_new[:, None] < adjusted).mean(axis=0), LEVELS, atol=0.02)
    assert np.all(np.diff(adjusted, axis=1) >= 0)


def test_thin_history_strata_are_widened_by_their_own_calibration_never_narrowed() -> None:
    q, y, _ = lognormal_events(4000, seed=3)
    prior = np.where(np.arange(4000) % 4 == 0, 0, 8)
    y = np.where(prior == 0, y * np.exp(0.6 * np.random.default_rng(4).standard_normal(4000)), y)  # wilder
    calibration = fit_calibration(q, y, prior)
    assert set(calibration.stratum_shifts) == {"0"}  # no event with 1-2 prior moves: nothing to widen by
    shifts = np.asarray(calibration.stratum_shifts["0"])
    assert shifts[-1] > 0.1 and shifts[0] < -0.1
    row = np.array([[1.0, 2.0, 3.0, 4.0, 6.0]])
    thin, rich = calibration.adjust(row, [0])[0], calibration.adjust(row, [8])[0]
    assert thin[-1] > rich[-1] and thin[0] < rich[0]
    assert shifts[2] == 0.0 and shifts[0] == -shifts[-1]
    # a stratum whose moves are calmer is not narrowed
    calm_moves = np.where(prior == 0, np.sqrt(y * np.exp(np.log(q[:, 2]))), y)  # half the log-spread
    calm = fit_calibration(q, calm_moves, prior)
    assert calm.stratum_shifts["0"] == [0.0] * 5


def test_generalized_pareto_tail_is_recovered() -> None:
    from scipy.stats import genpareto

    z = genpareto.rvs(c=0.25, scale=0.4, size=4000, random_state=5)
    shape, scale = fit_tail(z)
    assert shape == pytest.approx(0.25, abs=0.06)
    assert scale == pytest.approx(0.4, rel=0.1)
    assert fit_tail(z[: MIN_EXCEEDANCES - 1]) == (DEFAULT_TAIL_SHAPE, DEFAULT_TAIL_SCALE)


def test_tail_grid_log_likelihood_is_the_generalized_pareto_formula_bit_for_bit() -> None:
    """The in-place grid equals the plain formula exactly (the fitted tails, hence every forecast, unchanged)."""
    from ivcrush.training.calibration import _gpd_loglik

    rng = np.random.default_rng(3)
    for size in (12, 97, 640):
        z = rng.pareto(3.0, size) * rng.uniform(0.1, 3.0)
        shapes, log_scales = np.linspace(0.0, MAX_TAIL_SHAPE, 19), np.linspace(np.log(0.02), np.log(5.0), 56)
        sigma, xi = np.exp(log_scales)[:, None, None], shapes[None, :, None]
        ratio = z[None, None, :] / sigma
        safe = np.where(xi > 0, xi, 1.0)
        terms = np.where(xi > 0, (1 + 1 / safe) * np.log1p(safe * ratio), ratio)
        expected = -len(z) * np.log(sigma[:, :, 0]) - terms.sum(axis=2)
        assert _gpd_loglik(z, shapes, log_scales).tobytes() == expected.tobytes()


def test_tail_fitted_on_exceedances_over_the_calibrated_q90() -> None:
    q, y, prior = lognormal_events(5000, seed=6)
    calibration = fit_calibration(q, y, prior)
    assert calibration.fitted_on["exceedances"] >= MIN_EXCEEDANCES
    q_new, y_new, prior_new = lognormal_events(20000, seed=7)
    dist = calibration.distribution(q_new, prior_new)
    for factor in (1.5, 2.0):
        predicted = dist.sf(factor * dist.q90).mean()
        observed = np.mean(y_new > factor * dist.q90)
        assert predicted == pytest.approx(observed, abs=0.01)


def test_calibration_is_stored_as_json_and_applies_identically() -> None:
    q, y, prior = lognormal_events(1000, seed=8)
    calibration = fit_calibration(q, y, prior)
    restored = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert np.array_equal(restored.adjust(q, prior), calibration.adjust(q, prior))
    assert (restored.tail_shape, restored.tail_scale) == (calibration.tail_shape, calibration.tail_scale)


def test_too_few_rows_leave_the_quantiles_alone() -> None:
    q, y, prior = lognormal_events(10, seed=9)
    calibration = fit_calibration(q, y, prior)
    assert np.allclose(calibration.adjust(q, prior), q)
    assert "fewer than" in str(calibration.fitted_on["note"])


def test_calibration_slices_are_the_latest_tenths_each_fitted_on_what_was_known_before() -> None:
    decided = pd.Series(pd.date_range("2023-01-02 21:00", periods=100, freq="D", tz="UTC"))
    known = decided + pd.Timedelta(days=2)  # outcomes known two days after the decision
    slices = calibration_slices(decided, known, slices=3, share=0.1)
    assert [list(np.flatnonzero(forecast)) for _, forecast in slices] == [
        list(range(70, 80)),
        list(range(80, 90)),
        list(range(90, 100)),
    ]
    for fit, forecast in slices:
        assert known[fit].max() < decided[forecast].min()
        assert fit.sum() == np.flatnonzero(forecast)[0] - 2  # the two events whose outcome came later are left out


def test_calibrate_window_forecasts_each_slice_from_earlier_outcomes_only() -> None:
    rng = np.random.default_rng(10)
    n = 600
    decided = pd.Series(pd.date_range("2023-01-02 21:00", periods=n, freq="12h", tz="UTC"))
    rows = pd.DataFrame(
        {
            "event_timestamp": decided,
            "outcome_known_at": decided + pd.Timedelta(days=1),
            "abs_close_move_pct": 3.0 * np.exp(0.9 * rng.standard_normal(n)),
            "hm_prior_events": rng.integers(0, 12, n),
        }
    )
    calls = []

    def forecast(fit: pd.DataFrame, target: pd.DataFrame) -> np.ndarray:
        calls.append((fit["outcome_known_at"].max(), target["event_timestamp"].min(), len(target)))
        return np.tile(3.0 * np.exp(0.5 * LOGNORMAL_Z), (len(target), 1))  # too narrow

    calibration = calibrate_window(rows, forecast)
    assert len(calls) == 3 and [size for *_, size in calls] == [60] * 3
    assert all(known < first for known, first, _ in calls)
    assert calibration.fitted_on["rows"] == 180 and calibration.fitted_on["slices"] == 3
    assert calibration.fitted_on["recent_rows"] == 90  # the window's latest 15%
    assert calibration.shifts[-1] > 0.2 and calibration.shifts[0] < -0.2 and calibration.shifts[2] == 0.0
    assert calibration.sample is not None and len(calibration.sample.y) == 180
    assert calibration.sample.window_rows == n
    assert "sample" not in calibration.to_dict()  # in memory only, never stored with the model


def test_per_quantile_shifts_repair_a_low_end_that_sits_too_high_and_leave_a_right_high_end() -> None:
    """A model whose q10 is too high but whose q90 is right: only the lower quantiles move (a symmetric
    interval shift would have widened the right q90 too)."""
    rng = np.random.default_rng(12)
    n = 4000
    scale = rng.uniform(1.0, 6.0, n)
    y = scale * np.exp(0.6 * rng.standard_normal(n))
    q = scale[:, None] * np.exp(0.6 * LOGNORMAL_Z[None, :])
    q[:, 0] = scale * np.exp(0.6 * -0.8)  # too high: the true q10 is at z = -1.28 (still below q25)
    calibration = fit_calibration(q, y)
    adjusted = calibration.adjust(q)
    assert calibration.shifts[0] < -0.2 and abs(calibration.shifts[-1]) < 0.05 and calibration.shifts[2] == 0.0
    assert np.mean(y < adjusted[:, 0]) == pytest.approx(0.1, abs=0.01)
    assert np.mean(y < adjusted[:, -1]) == pytest.approx(0.9, abs=0.01)


def test_refit_adds_the_new_outcomes_to_the_window_and_keeps_its_latest_share() -> None:
    """A re-fit with newly known events is the calibration a training of the grown window would fit: the latest
    30% of the grown window (the oldest sample rows drop out), its latest 15% recent; no new events: itself."""
    n = 1000
    rng = np.random.default_rng(13)
    decided = pd.Series(pd.date_range("2023-01-02 21:00", periods=n, freq="12h", tz="UTC"))
    rows = pd.DataFrame(
        {
            "event_timestamp": decided,
            "outcome_known_at": decided + pd.Timedelta(days=1),
            "abs_close_move_pct": 3.0 * np.exp(0.5 * rng.standard_normal(n)),
            "hm_prior_events": rng.integers(0, 12, n),
        }
    )
    right = np.tile(3.0 * np.exp(0.5 * LOGNORMAL_Z), (1, 1))
    calibration = calibrate_window(rows, lambda fit, target: np.repeat(right, len(target), axis=0))
    assert abs(calibration.shifts[-1]) < 0.1
    later = pd.date_range(decided.iloc[-1] + pd.Timedelta(days=1), periods=200, freq="12h", tz="UTC")
    wild = 3.0 * np.exp(1.2 * rng.standard_normal(200))  # the newer events move far more
    empty = np.empty(0)
    assert refit(calibration, np.empty((0, 5)), empty, empty, empty) is calibration
    refitted = refit(calibration, np.repeat(right, 200, axis=0), wild, np.full(200, 8.0), later.to_numpy())
    assert refitted.fitted_on["rows"] == round(1200 * 0.3) and refitted.fitted_on["recent_rows"] == 1200 * 0.15
    assert refitted.fitted_on["refit"]["added_rows"] == 200
    assert refitted.shifts[-1] > calibration.shifts[-1] + 0.3 and refitted.shifts[0] < calibration.shifts[0] - 0.3


def test_the_recent_shift_is_shrunk_towards_the_pooled_one_by_its_count() -> None:
    """A recent slice that says "narrower" moves the shifts only as far as its count warrants: with few recent
    events mostly the pooled slices' shift, with many mostly its own."""
    q, y, prior = lognormal_events(2000, seed=11)
    recent = np.arange(2000) >= 1900
    y = np.where(recent, np.exp(np.log(q[:, 2]) + 0.4 * (np.log(y) - np.log(q[:, 2]))), y)  # calm recent events
    pooled = fit_calibration(q[~recent], y[~recent], prior[~recent]).shifts[-1]
    alone = fit_calibration(q[recent], y[recent], prior[recent]).shifts[-1]
    mixed = fit_calibration(q, y, prior, recent=recent)
    weight = 100 / (100 + POOLED_WEIGHT)
    assert mixed.fitted_on["recent_weight"] == pytest.approx(weight, abs=1e-4)
    assert alone < mixed.shifts[-1] < pooled
    assert mixed.shifts[-1] == pytest.approx(
        weight * mixed.fitted_on["recent_shifts"][-1] + (1 - weight) * mixed.fitted_on["pooled_shifts"][-1], abs=1e-5
    )
    assert mixed.shifts[-1] - alone > 0.5 * (pooled - alone)  # 100 recent events: the pooled shift dominates

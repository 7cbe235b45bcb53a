"""The walk-forward's calibration refreshed as production refreshes it: the re-fit cadence, and no forecast
reads an outcome that was not known at its re-fit (itself at or before its decision)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.calibration import refit
from ivcrush.training.move_size import REFERENCE_NAMES
from ivcrush.training.predict import prior_events
from ivcrush.training.recalibration import refit_times, refreshed_forecasts
from ivcrush.training.train import TrainedModels, fit_move_size, scaled_quantiles

FORECASTS = [*QUANTILE_NAMES, "tail_shape", "tail_scale", "point", "confidence", *REFERENCE_NAMES, "ref_tail_scale"]


def events(n: int, seed: int) -> pd.DataFrame:
    """Events every 12 hours, outcomes known a day after the decision; the move's scale follows feature f."""
    rng = np.random.default_rng(seed)
    decided = pd.Series(pd.date_range("2023-01-02 21:00", periods=n, freq="12h", tz="UTC"))
    f = rng.uniform(1.0, 6.0, n)
    return pd.DataFrame(
        {
            "ticker": [f"T{i % 40}" for i in range(n)],
            "event_timestamp": decided,
            "outcome_known_at": decided + pd.Timedelta(days=1),
            "f": f,
            "abs_close_move_pct": f * np.exp(0.8 * rng.standard_normal(n)),
            "label_trusted": rng.uniform(size=n) > 0.1,
            "hm_close_mean_12q": f * rng.uniform(0.8, 1.2, n),
            "hm_prior_events": rng.integers(0, 12, n),
        }
    )


@pytest.fixture(scope="module")
def fold() -> tuple[TrainedModels, pd.DataFrame, pd.Timestamp]:
    """A model trained on the first 500 events (outcomes known before the fold) and the fold's 200 events."""
    frame = events(700, seed=3)
    start = frame["event_timestamp"].iloc[500]
    train = frame[(frame["outcome_known_at"] < start) & frame["label_trusted"]]
    boosters, move_size = fit_move_size(train, ["f"])
    return TrainedModels(boosters=boosters, features=["f"], move_size=move_size), frame.iloc[500:], start


def forecasts(fold: tuple[TrainedModels, pd.DataFrame, pd.Timestamp], test: pd.DataFrame, days: int) -> pd.DataFrame:
    models, _, start = fold
    out, _ = refreshed_forecasts(models, test, pd.DataFrame(index=test.index), start, days)
    return out[FORECASTS]


def test_refit_times_are_the_latest_cadence_step_at_or_before_each_decision() -> None:
    start = pd.Timestamp("2024-01-01 14:30", tz="UTC")
    decided = pd.Series(
        pd.to_datetime(["2024-01-01 14:30", "2024-01-02 14:29", "2024-01-08 14:30", "2024-01-20 00:00"], utc=True)
    )
    weekly = refit_times(start, decided, 7)
    assert list(weekly) == [start, start, start + pd.Timedelta(days=7), start + pd.Timedelta(days=14)]
    daily = refit_times(start, decided, 1)
    assert list(daily) == [start, start, start + pd.Timedelta(days=7), start + pd.Timedelta(days=18)]


def test_each_period_is_forecast_with_the_outcomes_known_before_its_refit(fold) -> None:
    """Every forecast equals the training's calibration re-fitted on exactly the fold's trusted outcomes known
    strictly before the forecast's re-fit time; one re-fit per period that saw new outcomes."""
    models, test, start = fold
    days = 7
    out, refits = refreshed_forecasts(models, test, pd.DataFrame(index=test.index), start, days)
    raw = scaled_quantiles(models.boosters, models.features, test, models.move_size.scale_mean)
    times = refit_times(start, test["event_timestamp"], days)
    assert refits == times.nunique() == 15  # 100 days of decisions, weekly
    decided = test["event_timestamp"].to_numpy(dtype="datetime64[ns]")
    for time in times.unique():
        pool = ((test["outcome_known_at"] < time) & test["label_trusted"]).to_numpy()
        rows = (times == time).to_numpy()
        y = test["abs_close_move_pct"].to_numpy()
        calibration = refit(models.move_size.calibration, raw[pool], y[pool], prior_events(test)[pool], decided[pool])
        expected = calibration.distribution(raw[rows], prior_events(test)[rows])
        np.testing.assert_allclose(out.loc[rows, list(QUANTILE_NAMES)].to_numpy(), expected.quantiles)
        np.testing.assert_allclose(out.loc[rows, "tail_scale"].to_numpy(), expected.tail_scale)
    first = (times == start).to_numpy()
    static = models.move_size.calibration.distribution(raw[first], prior_events(test)[first])
    np.testing.assert_allclose(out.loc[first, list(QUANTILE_NAMES)].to_numpy(), static.quantiles)


@pytest.mark.parametrize("days", [1, 7])
def test_no_forecast_reads_an_outcome_known_after_its_decision(fold, days: int) -> None:
    """Scrambling the moves of every event whose outcome became known at or after a cut leaves every forecast
    decided at or before the cut unchanged (cuts inside re-fit periods too); later forecasts do change."""
    _, test, _ = fold
    before = forecasts(fold, test, days)
    for cut in test["event_timestamp"].iloc[[10, 45, 77, 120, 163]]:
        scrambled = test.copy()
        later = scrambled["outcome_known_at"] >= cut
        scrambled.loc[later, "abs_close_move_pct"] = scrambled.loc[later, "abs_close_move_pct"].to_numpy()[::-1] * 3
        after = forecasts(fold, scrambled, days)
        decided_by_cut = (test["event_timestamp"] <= cut).to_numpy()
        pd.testing.assert_frame_equal(before[decided_by_cut], after[decided_by_cut])
        assert not np.allclose(before.loc[~decided_by_cut, "q90"], after.loc[~decided_by_cut, "q90"])

"""The model cache of the incremental main job (`training.fold_cache`): a reused training is the one a
recomputation gives, and a change of the rows, the training code or an option trains again."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ivcrush.feature_repo.feature_names import MODEL_FEATURE_COLUMNS
from ivcrush.training.fold_cache import ModelCache, quantiles_key, training_key
from ivcrush.training.predict import predict_frame
from ivcrush.training.recalibration import refreshed_forecasts
from ivcrush.training.train import LeakageError, TrainedModels, train_models

ROUNDS = 20


def _frame(rows: int = 240, seed: int = 5) -> pd.DataFrame:
    """A synthetic training set: random features, moves scaled by their history level, 4 decisions a day."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(MODEL_FEATURE_COLUMNS))), columns=list(MODEL_FEATURE_COLUMNS))
    frame["hm_prior_events"] = rng.integers(0, 12, rows)
    frame["hm_close_mean_12q"] = rng.uniform(1.0, 6.0, rows)
    frame["opt_implied_move_pct"] = np.nan
    decided = pd.Timestamp("2023-01-02", tz="UTC") + pd.to_timedelta(np.arange(rows) // 4, unit="D")  # 4 a day
    signed = frame["hm_close_mean_12q"] * rng.standard_normal(rows)
    return frame.assign(
        ticker=[f"T{i % 17}" for i in range(rows)],
        event_timestamp=decided,
        outcome_known_at=decided + pd.Timedelta(days=1),
        label_trusted=rng.uniform(size=rows) > 0.2,
        abs_close_move_pct=signed.abs(),
        signed_close_move_pct=signed,
        moved_up=signed > 0,
    )


def _same(first: TrainedModels, second: TrainedModels, frame: pd.DataFrame) -> None:
    assert set(first.boosters) == set(second.boosters)
    for name, booster in first.boosters.items():
        assert booster.model_to_string() == second.boosters[name].model_to_string(), name
    assert first.move_size.to_dict() == second.move_size.to_dict()
    assert (first.notes, first.training, first.features) == (second.notes, second.training, second.features)
    pd.testing.assert_frame_equal(predict_frame(first, frame), predict_frame(second, frame), check_exact=True)
    # the out-of-fold samples the walk-forward's daily re-fits grow: kept exactly, so a reused fold's
    # re-fitted forecasts are the recomputed ones
    for a, b in (
        (first.move_size.calibration, second.move_size.calibration),
        (first.move_size.reference_calibration, second.move_size.reference_calibration),
    ):
        assert a.sample is not None and b.sample is not None
        for field in ("quantiles", "y", "prior", "decided_at"):
            np.testing.assert_array_equal(getattr(a.sample, field), getattr(b.sample, field))
        assert (a.sample.window_rows, a.sample.pooled_share, a.sample.recent_share) == (
            b.sample.window_rows,
            b.sample.pooled_share,
            b.sample.recent_share,
        )
    test = frame.tail(60).reset_index(drop=True)
    start = pd.Timestamp(test["event_timestamp"].min())
    refreshed = [refreshed_forecasts(m, test, predict_frame(m, test), start)[0] for m in (first, second)]
    pd.testing.assert_frame_equal(*refreshed, check_exact=True)


def test_a_reused_training_is_the_recomputed_one(tmp_path: Path) -> None:
    frame = _frame()
    cache = ModelCache(tmp_path)
    trained = cache.models(frame, num_boost_round=ROUNDS)
    reused = cache.models(frame.set_axis(frame.index + 1000), num_boost_round=ROUNDS)  # another index
    assert (cache.trained, cache.reused) == (1, 1)
    _same(trained, reused, frame)
    _same(train_models(frame, num_boost_round=ROUNDS), reused, frame)  # what the evaluation trains without it
    forced = ModelCache(tmp_path, reuse=False)  # `--force`: trained again, and the same
    _same(forced.models(frame, num_boost_round=ROUNDS), reused, frame)
    assert (forced.trained, forced.reused, forced.quantile_sets_reused) == (1, 0, 0)


def test_a_new_day_trains_again_reusing_the_slices_it_did_not_move(tmp_path: Path) -> None:
    frame = _frame()
    cache = ModelCache(tmp_path)
    cache.models(frame, num_boost_round=ROUNDS)
    new_day = frame.tail(1).assign(
        event_timestamp=frame["event_timestamp"].max() + pd.Timedelta(days=1),
        outcome_known_at=frame["outcome_known_at"].max() + pd.Timedelta(days=1),
        label_trusted=True,
    )
    grown = pd.concat([frame, new_day], ignore_index=True)
    incremental = cache.models(grown, num_boost_round=ROUNDS)
    assert (cache.trained, cache.reused) == (2, 0) and cache.quantile_sets_reused >= 1
    forced = ModelCache(tmp_path, reuse=False)
    _same(forced.models(grown, num_boost_round=ROUNDS), incremental, grown)


def test_rows_code_and_options_are_in_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _frame()
    options: dict[str, object] = {"trusted_only": True, "num_boost_round": ROUNDS, "params": None}
    key = training_key(frame, options)
    assert training_key(frame.copy(), dict(options)) == key
    changed = frame.copy()
    changed.loc[changed.index[3], "hm_close_last"] += 1e-12  # one value of one row, in its last bits
    assert training_key(changed, options) != key
    changed = frame.copy()
    changed.loc[changed.index[5], "label_trusted"] = not changed.loc[changed.index[5], "label_trusted"]
    assert training_key(changed, options) != key
    untrusted = frame.copy()  # a row the training does not read (untrusted) changes nothing
    row = untrusted.index[~untrusted["label_trusted"]][0]
    untrusted.loc[row, "hm_close_last"] += 1.0
    assert training_key(untrusted, options) == key
    assert training_key(frame, {**options, "num_boost_round": ROUNDS + 1}) != key
    assert training_key(frame, {**options, "params": {"num_leaves": 3}}) != key
    assert training_key(frame, {**options, "trusted_only": False}) != key
    rows = frame[frame["label_trusted"]]
    quantiles = quantiles_key(rows, MODEL_FEATURE_COLUMNS, 3.0, None)
    assert quantiles_key(rows.copy(), list(MODEL_FEATURE_COLUMNS), 3.0, None) == quantiles
    assert quantiles_key(rows.iloc[1:], MODEL_FEATURE_COLUMNS, 3.0, None) != quantiles
    assert quantiles_key(rows, MODEL_FEATURE_COLUMNS, 3.0 + 1e-15, None) != quantiles
    assert quantiles_key(rows, MODEL_FEATURE_COLUMNS[1:], 3.0, None) != quantiles
    assert quantiles_key(rows, MODEL_FEATURE_COLUMNS, 3.0, {"num_leaves": 3}) != quantiles
    monkeypatch.setattr("ivcrush.training.fold_cache.training_code", lambda: "other code")
    assert training_key(frame, options) != key
    assert quantiles_key(rows, MODEL_FEATURE_COLUMNS, 3.0, None) != quantiles


def test_prefetched_trainings_in_parallel_are_the_sequential_ones(tmp_path: Path) -> None:
    frames = [_frame(rows, seed) for rows, seed in ((180, 1), (240, 2), (300, 3))]
    with ModelCache(tmp_path / "parallel", workers=2) as cache:
        for frame in frames:
            cache.prefetch(frame, num_boost_round=ROUNDS)
        parallel = [cache.models(frame, num_boost_round=ROUNDS) for frame in frames[::-1]][::-1]
    assert (cache.trained, cache.reused) == (3, 0)
    sequential = ModelCache(tmp_path / "sequential")
    for frame, models in zip(frames, parallel, strict=True):
        _same(sequential.models(frame, num_boost_round=ROUNDS), models, frame)
    assert (sequential.trained, sequential.reused) == (3, 0)


def test_a_prefetched_training_raises_its_error_where_its_result_is_taken(tmp_path: Path) -> None:
    leaky = _frame().assign(hm_close_last=lambda f: f["abs_close_move_pct"] * 2.0)
    with ModelCache(tmp_path, workers=2) as cache:
        cache.prefetch(leaky, num_boost_round=ROUNDS)
        with pytest.raises(LeakageError, match="hm_close_last looks like the label"):
            cache.models(leaky, num_boost_round=ROUNDS)
    assert cache.trained == 0


def test_two_threads_writing_one_entry_both_succeed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two trainings of the same rows in the cache's two workers write the same entry: each empties its place,
    then renames its folder there. Interleaved (both emptied, then both renamed), the second rename finds the
    place full; the swap is one thread's at a time."""
    from ivcrush.training import fold_cache

    meeting = threading.Barrier(2)
    rename = os.replace

    def rename_when_both_are_here(source: Path, target: Path) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=1.0)  # the other thread arrives only if it could empty the place meanwhile
        rename(source, target)

    monkeypatch.setattr(fold_cache.os, "replace", rename_when_both_are_here)
    entry = tmp_path / "entry"
    failures: list[BaseException] = []

    def write() -> None:
        try:
            fold_cache._write_entry(entry, {}, {"tag": "same"})
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert (entry / fold_cache.ENTRY).read_text() == '{"tag": "same"}'
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no temporary folder left


def test_a_kept_refit_is_the_recomputed_one_and_new_events_refit_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk-forward's daily re-fits of a fold's calibrations, kept by the model cache: a later run on the same
    events takes every one of them from the cache (none re-fitted) with the same forecasts; an event changed
    re-fits the periods whose inputs it changed, and only those."""
    from ivcrush.training import fold_cache

    frame = _frame(360, seed=9)
    train, test = frame.iloc[:240], frame.iloc[240:].reset_index(drop=True)
    start = pd.Timestamp(test["event_timestamp"].min())
    models = train_models(train, num_boost_round=ROUNDS)
    plain, refits = refreshed_forecasts(models, test, predict_frame(models, test), start)
    with ModelCache(tmp_path) as first:
        kept, _ = refreshed_forecasts(models, test, predict_frame(models, test), start, refit_with=first.refit)
    pd.testing.assert_frame_equal(kept, plain, check_exact=True)
    assert first.refits_reused == 0 and refits > 10

    def no_refit(*_: object) -> None:
        raise AssertionError("re-fitted although kept")

    reread = ModelCache(tmp_path).models(train, num_boost_round=ROUNDS)  # its calibrations read back from disk
    with monkeypatch.context() as patched:
        patched.setattr(fold_cache, "refit", no_refit)
        with ModelCache(tmp_path) as second:
            again, _ = refreshed_forecasts(reread, test, predict_frame(reread, test), start, refit_with=second.refit)
    pd.testing.assert_frame_equal(again, plain, check_exact=True)
    assert second.refits_reused == 2 * refits  # the model's and the reference's calibration
    changed = test.copy()
    middle = changed.index[changed["label_trusted"]][len(changed) // 2]  # feeds the re-fits after it is known
    changed.loc[middle, "abs_close_move_pct"] += 0.5
    with ModelCache(tmp_path) as third:
        out, _ = refreshed_forecasts(models, changed, predict_frame(models, changed), start, refit_with=third.refit)
    expected, _ = refreshed_forecasts(models, changed, predict_frame(models, changed), start)
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    assert 0 < 2 * refits - third.refits_reused < 2 * refits


def test_the_fitting_packages_versions_are_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key names the packages' versions; looking them up costs ~5 ms each, so once per process."""
    from ivcrush.training import fold_cache

    looked_up: list[str] = []
    frame = _frame()
    options: dict[str, object] = {"trusted_only": True, "num_boost_round": ROUNDS, "params": None}
    fold_cache._fitting_versions.cache_clear()
    try:
        with monkeypatch.context() as patched:
            patched.setattr(fold_cache, "version", lambda name: looked_up.append(name) or "1.0")
            keys = {training_key(frame, options) for _ in range(3)}
            quantiles_key(frame, MODEL_FEATURE_COLUMNS, 3.0, None)
    finally:
        fold_cache._fitting_versions.cache_clear()
    assert looked_up == list(fold_cache.FITTING_PACKAGES) and len(keys) == 1
    assert training_key(frame, options) not in keys  # the real versions: another key

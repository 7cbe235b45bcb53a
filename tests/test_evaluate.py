"""Walk-forward evaluation: point-in-time splits, outputs, shuffled labels, an injected look-ahead feature."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ivcrush import progress
from ivcrush.feature_repo.feature_names import MODEL_FEATURE_COLUMNS
from ivcrush.feature_repo.materialize import materialize
from ivcrush.settings import Settings
from ivcrush.training.backtest import journal, simulate
from ivcrush.training.backtest.events import event_frame
from ivcrush.training.baselines import baseline_frame, empirical_quantiles
from ivcrush.training.data import training_set
from ivcrush.training.evaluate import evaluate, evaluate_frame
from ivcrush.training.fold_cache import ModelCache
from ivcrush.training.registry import list_models, load_latest
from ivcrush.training.release import train_and_register
from ivcrush.training.splits import walk_forward_splits
from ivcrush.training.train import LeakageError
from ivcrush.workspace import BUILD_MANIFEST, current_build, generation_build, published

ROUNDS = 80
FAST = {"num_boost_round": ROUNDS, "resamples": 200}


def _published(settings: Settings, target: Path, as_of: date) -> Settings:
    """A private copy of a built workspace, published to the feature store (as in tests/test_feast.py)."""
    shutil.copytree(settings.workdir, target, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    copy = replace(settings, workdir=target)
    materialize(copy, as_of)
    return copy


@pytest.fixture(scope="module")
def published_sample(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A sample large enough to learn from (~650 trusted events): the session's 40-ticker one has ~230."""
    from ivcrush.build import build
    from ivcrush.source.sample import write_sample_db

    folder = tmp_path_factory.mktemp("evaluate")
    db = folder / "db" / "ivcrush.db"
    db.parent.mkdir()
    write_sample_db(db, tickers=100, years=6, seed=5)
    settings = Settings(workdir=folder / "work", db=db)
    build(settings)
    materialize(settings, date(2025, 7, 1))
    return settings


@pytest.fixture(scope="module")
def dataset(published_sample: Settings) -> pd.DataFrame:
    return training_set(published_sample)


@pytest.fixture(scope="module")
def evaluation(published_sample: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out_dir = published_sample.workdir / "evaluations" / "run1"
    return evaluate(published_sample, folds=3, out_dir=out_dir, **FAST), out_dir


def test_every_fold_trains_only_on_outcomes_known_before_its_first_test_event(dataset: pd.DataFrame) -> None:
    for kwargs in ({"folds": 4}, {"train_until": date(2024, 6, 30), "test_from": date(2024, 7, 1)}):
        splits = walk_forward_splits(dataset, **kwargs)
        for split in splits:
            train, test = dataset[split["train"]], dataset[split["test"]]
            assert len(train) and len(test)
            assert train["outcome_known_at"].max() < test["event_timestamp"].min()
        tested = sum(split["test"] for split in splits)
        assert tested.max() == 1, "an event is tested in one fold at most"
    single = walk_forward_splits(dataset, train_until=date(2024, 6, 30), test_from=date(2024, 7, 1))[0]
    assert dataset[single["train"]]["outcome_known_at"].max() < pd.Timestamp("2024-07-01", tz="UTC")


def test_empirical_baseline_uses_only_earlier_outcomes(dataset: pd.DataFrame) -> None:
    events = dataset.sort_values("event_timestamp").tail(300)
    first = events.groupby("ticker").head(1)  # one event per ticker
    decided = dataset["ticker"].map(first.set_index("ticker")["event_timestamp"])
    changed = dataset.copy()
    changed.loc[changed["outcome_known_at"] >= decided, "abs_close_move_pct"] = 999.0  # not yet known
    pd.testing.assert_frame_equal(empirical_quantiles(first, dataset), empirical_quantiles(first, changed))
    only_known = dataset[dataset["outcome_known_at"] < events["event_timestamp"].min()]
    frame = baseline_frame(first, dataset, only_known)
    assert frame.notna().all().all(), "missing history falls back to the training window's global values"
    assert frame["base_quantiles_fallback"].any() and not frame["base_quantiles_fallback"].all()


def test_evaluate_writes_predictions_metrics_and_report(evaluation: tuple[dict, Path]) -> None:
    metrics, out_dir = evaluation
    for name in (
        "predictions.csv",
        "metrics.json",
        "report.html",
        "quantile_calibration.png",
        "pit_histogram.png",
        "reliability.png",
    ):
        assert (out_dir / name).is_file(), name
    assert json.loads((out_dir / "metrics.json").read_text())["verdicts"] == metrics["verdicts"]
    predictions = pd.read_csv(out_dir / "predictions.csv")
    for column in ("ticker", "earnings_date", "timing", "label_trusted", "actual", "point", "q10", "q90", "p_up"):
        assert column in predictions.columns
    assert {"tail_shape", "tail_scale", "ref_q10", "ref_q90", "base_fair_2_0"} <= set(predictions.columns)
    assert {"base_2_0_mean", "base_2_0_intraday", "base_median_8q", "base_q10", "base_q90", "fold"} <= set(
        predictions.columns
    )
    trusted = metrics["trusted"]
    size = trusted["move_size"]
    assert {m["n"] for m in size.values()} == {trusted["n"]}, "model and baselines on exactly the same events"
    assert trusted["n"] == int(predictions["label_trusted"].sum())
    assert metrics["untrusted"]["note"].startswith("UNTRUSTED labels")
    assert metrics["untrusted"]["n"] == int((~predictions["label_trusted"]).sum())
    assert len(trusted["by_fold"]) == 3
    assert set(trusted["exceedance"]) == {"x=2.0 mean", "x=3%", "x=5%", "x=8%"}
    assert metrics["verdicts"]["iv_crush"]["skill"] is False
    # the distribution's calibration per fold, pooled, by prior trusted history and by timing; PIT; the targets
    forecast = trusted["forecast"]
    assert set(forecast["by_fold"]) == {"0", "1", "2"} and set(forecast["by_history"]) == {"0", "1-2", "3-5", "6+"}
    assert sum(t["n"] for t in forecast["by_fold"].values()) == forecast["pooled"]["n"] == trusted["n"]
    assert sum(t["n"] for t in forecast["by_history"].values()) == trusted["n"]
    assert set(forecast["pooled"]["tail"]) == {"P(>1.5 q90)", "P(>2 q90)", "P(>3%)", "P(>5%)", "P(>8%)", "P(>12%)"}
    assert set(forecast["pooled"]["share_below"]) == {"q10", "q25", "q50", "q75", "q90"}
    for table in (forecast["pooled"], *forecast["by_history"].values()):
        if table["n"]:
            low, high = table["coverage_80_ci95"]
            assert low <= table["coverage_80"] <= high
            assert set(table["share_below_ci95"]) == {"q10", "q90"}
    assert sum(forecast["pit_histogram"]) == trusted["n"]
    assert [c["target"].split()[0] for c in metrics["targets"]] == ["80%", "share", "share", "P(>1.5", "P(>2", "mean"]
    assert all(any(line.startswith(f"target {c['target']}") for line in metrics["summary"]) for c in metrics["targets"])
    # the gate: every target against its best baseline, with a CI and the gain per fold
    gate = metrics["verdicts"]["move_size"]
    assert set(gate["skill_by_target"]) == {"pinball", "MAE", "Brier"}
    assert gate["skill"] == gate["skill_by_target"]["pinball"]
    for verdict in gate["targets"].values():
        assert set(verdict["fold_gains"]) == {"0", "1", "2"} and len(verdict["gain_ci95"]) == 2
        assert verdict["words"] in gate["sentence"]
    folds = metrics["setup"]["folds"]
    assert all({"tail_shape", "tail_scale", "shifts"} <= set(f["calibration"]) for f in folds)
    assert "inner folds" in metrics["setup"]["hyperparameters"]
    report = (out_dir / "report.html").read_text().replace("&#x27;", "'")
    assert metrics["verdicts"]["direction"]["sentence"] in report
    assert "Skill gate" in report and "P(&gt;1.5 q90) pred / obs" in report


def test_folds_trained_in_parallel_give_the_sequential_evaluation(dataset: pd.DataFrame, tmp_path: Path) -> None:
    """The main job's cache trains the folds at once in its workers (and whatever `meanwhile` starts after
    them): the same predictions and metrics as one fold after the other without a cache."""
    sequential = evaluate_frame(dataset, out_dir=tmp_path / "sequential", folds=3, report=False, **FAST)
    started: list[bool] = []
    with ModelCache(tmp_path / "cache", workers=2) as cache:
        parallel = evaluate_frame(
            dataset,
            out_dir=tmp_path / "parallel",
            folds=3,
            report=False,
            models_cache=cache,
            meanwhile=lambda: started.append(True),
            **FAST,
        )
    assert started == [True] and (cache.trained, cache.reused) == (3, 0)
    for key in ("created_at", "out_dir"):
        del sequential[key], parallel[key]
    assert parallel == sequential
    written = [(tmp_path / run / "predictions.csv").read_text() for run in ("sequential", "parallel")]
    assert written[0] == written[1]


def test_shuffled_labels_remove_the_edge(dataset: pd.DataFrame, tmp_path: Path) -> None:
    """Trained on shuffled labels, the model keeps only what it knows without learning: its scale, the event's
    trusted history level (training.scaling). That is the trusted scaled-history reference, so the shuffled
    model is no better than it and the gate finds no skill; the real model is better than the shuffled one.
    (The gate's positive control, a model with real skill, is the look-ahead test below.)"""
    real = evaluate_frame(dataset, out_dir=tmp_path / "real", folds=2, report=False, **FAST)
    shuffled = evaluate_frame(
        dataset, out_dir=tmp_path / "shuffled", folds=2, report=False, shuffle_labels=True, **FAST
    )
    mae = real["trusted"]["move_size"]["model"]["mae"]
    mae_shuffled = shuffled["trusted"]["move_size"]["model"]["mae"]
    baseline = real["trusted"]["move_size"]["base_2_0_mean"]["mae"]
    assert shuffled["trusted"]["move_size"]["base_2_0_mean"]["mae"] == baseline, "same events, same baseline"
    reference = shuffled["trusted"]["move_size"]["ref_q50"]["mae"]
    assert mae < mae_shuffled, (mae, mae_shuffled)
    assert mae_shuffled > 0.98 * reference, "a model that learned nothing is no better than the scaled history"
    verdict = shuffled["verdicts"]["move_size"]
    assert verdict["skill"] is False and not any(verdict["skill_by_target"].values()), verdict["sentence"]
    assert "No pinball skill: serving uses the trusted scaled-history" in verdict["sentence"]


def test_a_calibration_is_a_function_of_its_training_window_only(dataset: pd.DataFrame, tmp_path: Path) -> None:
    """Changing the events of the last fold (moves and features) leaves the earlier folds' calibrations as they
    were: each is fitted on its own training window alone."""
    options = {"folds": 2, "report": False, **FAST}
    before = evaluate_frame(dataset, out_dir=tmp_path / "before", **options)["setup"]["folds"]
    last = walk_forward_splits(dataset, folds=2)[-1]["test"]
    changed = dataset.copy()
    changed.loc[last, "abs_close_move_pct"] *= 3
    changed.loc[last, "hm_close_mean_12q"] *= 2
    after = evaluate_frame(changed, out_dir=tmp_path / "after", **options)["setup"]["folds"]
    assert before[0]["calibration"] == after[0]["calibration"]
    assert before[0]["reference_calibration"] == after[0]["reference_calibration"]
    # a change inside a window does change its calibration: fold 1 trains on fold 0's test events
    changed.loc[walk_forward_splits(dataset, folds=2)[0]["test"], "abs_close_move_pct"] *= 3
    inside = evaluate_frame(changed, out_dir=tmp_path / "inside", **options)["setup"]["folds"]
    assert inside[1]["calibration"] != before[1]["calibration"]


def test_the_calibration_choices_never_look_at_the_evaluated_fold(dataset: pd.DataFrame, tmp_path: Path) -> None:
    """Everything chosen at a training (conformal shifts, the recent rows' weight against the pooled slices,
    the thin strata's widening, the tail, the reference's calibration) stays the same when the labels of the
    evaluated fold and of everything after it are scrambled; so does every forecast of the fold with the
    calibration held still, and, with the calibration re-fitted daily on the outcomes known by then, every
    forecast decided before the first scrambled outcome was known (tests/test_recalibration.py cuts mid-fold)."""
    split = walk_forward_splits(dataset, folds=2)[-1]
    future = dataset["abs_close_move_pct"].notna() & (
        pd.to_datetime(dataset["event_timestamp"], utc=True) >= split["test_start"]
    )
    scrambled = dataset.copy()
    moves = scrambled.loc[future, "abs_close_move_pct"].to_numpy()
    scrambled.loc[future, "abs_close_move_pct"] = moves[::-1] * 2.5 + 1.0
    first_known = pd.to_datetime(dataset.loc[future, "outcome_known_at"], utc=True).min()
    decided = pd.to_datetime(dataset.loc[split["test"], "event_timestamp"], utc=True).reset_index(drop=True)
    forecasts = ["q10", "q25", "q50", "q75", "q90", "tail_shape", "tail_scale", "ref_q10", "ref_q90"]
    for refit_days in (None, 1):
        options = {"folds": 2, "report": False, "refit_days": refit_days, **FAST}
        before = evaluate_frame(dataset, out_dir=tmp_path / f"before{refit_days}", **options)
        after = evaluate_frame(scrambled, out_dir=tmp_path / f"after{refit_days}", **options)
        fold_before, fold_after = before["setup"]["folds"][-1], after["setup"]["folds"][-1]
        assert "recent_weight" in fold_before["calibration"]["fitted_on"]
        assert fold_before["calibration"] == fold_after["calibration"]
        assert fold_before["reference_calibration"] == fold_after["reference_calibration"]
        read = [pd.read_csv(tmp_path / f"{name}{refit_days}" / "predictions.csv") for name in ("before", "after")]
        last = [frame[frame["fold"] == fold_before["fold"]][forecasts].reset_index(drop=True) for frame in read]
        known_then = decided <= first_known if refit_days else decided.notna()
        assert known_then.any()
        pd.testing.assert_frame_equal(last[0][known_then], last[1][known_then])
        assert before["trusted"]["forecast"]["pooled"] != after["trusted"]["forecast"]["pooled"]  # labels changed


def test_an_injected_look_ahead_feature_is_caught(dataset: pd.DataFrame, tmp_path: Path) -> None:
    leaky = dataset.copy()
    noise = pd.Series(range(len(leaky)), index=leaky.index).mod(7).sub(3).mul(0.15)
    leaky["future_move"] = leaky["abs_close_move_pct"] + noise
    features = [*MODEL_FEATURE_COLUMNS, "future_move"]
    with pytest.raises(LeakageError, match="feature future_move looks like the label"):
        evaluate_frame(leaky, out_dir=tmp_path / "a", folds=2, features=features, report=False, **FAST)
    # with the check off, the evaluation itself flags the implausible jump in skill
    metrics = evaluate_frame(
        leaky, out_dir=tmp_path / "b", folds=2, features=features, check_leakage=False, report=False, **FAST
    )
    size = metrics["trusted"]["move_size"]
    assert size["model"]["mae"] < 0.6 * size["base_2_0_mean"]["mae"], size
    assert metrics["verdicts"]["move_size"]["skill"] is True, "the gate sees skill where there is some"
    assert all(metrics["verdicts"]["move_size"]["skill_by_target"].values())
    assert any(flag.startswith("IMPLAUSIBLE SKILL") for flag in metrics["flags"])
    assert any(line.startswith("IMPLAUSIBLE SKILL") for line in metrics["summary"])


def test_train_and_register_attaches_the_latest_verdict(
    published_sample: Settings, evaluation: tuple[dict, Path]
) -> None:
    metrics, out_dir = evaluation
    model_id = train_and_register(published_sample, num_boost_round=ROUNDS)
    listed = list_models(published_sample.workdir)
    assert listed[-1]["model_id"] == model_id
    loaded = load_latest(published_sample.workdir)
    assert loaded.verdicts == metrics["verdicts"]
    assert loaded.metadata["metrics"]["evaluation_path"] == str(out_dir)
    assert loaded.metadata["data_fingerprint"]["source_fingerprint"]
    assert len(loaded.metadata["data_fingerprint"]["training_frame_sha256"]) == 16


def test_evaluation_and_backtests_read_the_generations_build_not_the_current_one(
    published_sample: Settings, tmp_path: Path
) -> None:
    """A newer build made current but not materialized yet (here a manifest without marts or warehouse): the
    evaluation and both backtests still read only the published generation and its build."""
    settings = replace(published_sample, workdir=tmp_path / "work")
    shutil.copytree(published_sample.workdir, settings.workdir, symlinks=True)
    generation = published(settings)
    built = generation_build(generation)
    assert built is not None and built.build_id == generation.build_id
    newer = settings.builds_dir / "newer"
    newer.mkdir()
    manifest = {**asdict(built), "build_id": "newer", "build_dir": str(newer), "source_fingerprint": "newer"}
    (newer / BUILD_MANIFEST).write_text(json.dumps(manifest))
    settings.current_build.unlink()
    settings.current_build.symlink_to(newer.relative_to(settings.workdir))
    assert current_build(settings).build_id == "newer"

    metrics = evaluate(settings, folds=2, out_dir=tmp_path / "out", report=False, **FAST)
    assert metrics["dataset"]["build_id"] == generation.build_id
    assert metrics["dataset"]["source_fingerprint"] == built.source_fingerprint
    assert event_frame(Path(generation.build_dir))["prev_close"].notna().all()
    stages: list[str] = []
    with progress.listening(lambda stage, done, total: stages.append(stage)):
        replay = journal.run_journal_backtest(settings, generation, None, None, evaluation=tmp_path / "out")
        simulated = simulate.run_simulation(settings, generation, None, None, None, evaluation=tmp_path / "out")
    assert replay["campaigns"]["crosses_earnings"].any() and replay["campaigns"]["p_loss"].notna().any()
    assert len(simulated["break_even"]) == 3 and simulated["trusted_events"] > 0
    assert stages.count("reading the evaluation's out-of-sample forecasts") == 2 and len(stages) == 5


@pytest.mark.real_snapshot
def test_single_split_on_the_real_snapshot(built_real: Settings, tmp_path: Path) -> None:
    settings = _published(built_real, tmp_path / "work", date(2025, 7, 1))
    metrics = evaluate(
        settings, train_until=date(2025, 1, 1), test_from=date(2025, 1, 1), out_dir=tmp_path / "out", report=False
    )
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    trusted = saved["trusted"]
    assert trusted["n"] > 300
    assert set(trusted["move_size"]) == {
        "model",
        "base_2_0_mean",
        "base_2_0_intraday",
        "base_median_8q",
        "base_q50",
        "base_global_median",
        "base_fair_2_0",
        "ref_q50",
    }
    assert {m["n"] for m in trusted["move_size"].values()} == {trusted["n"]}
    assert set(trusted["quantiles"]) == {"model", "empirical", "global", "scaled_history"}
    assert saved["setup"]["folds"][0]["train_last_outcome_known_at"] < "2025-01-01"
    assert metrics["verdicts"]["iv_crush"]["sentence"].startswith(
        "IV-crush model not trained: only 0 past events have an implied move"
    )
    assert set(metrics["verdicts"]) == {"move_size", "direction", "iv_crush"}

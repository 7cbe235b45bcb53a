"""Feast: point-in-time training sets, materialization and online reads (SQLite and a real Redis)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ivcrush.feature_repo import FEAST_TYPECHECKS_ENV
from ivcrush.feature_repo.entities import ticker
from ivcrush.feature_repo.feature_names import FEATURE_SERVICE_NAME, MODEL_FEATURES
from ivcrush.feature_repo.features import FEATURE_FIELDS, QUARTERLY_TTL, feature_views
from ivcrush.feature_repo.materialize import MaterializeError, materialize
from ivcrush.feature_repo.store import open_published_store, open_store
from ivcrush.settings import Settings
from ivcrush.training.data import KEYS, past_events, training_set
from ivcrush.workspace import BuildResult, current_build, mart_path, published
from tests.redis_server import redis_server


def _workspace_copy(settings: Settings, target: Path) -> Settings:
    """A private copy of a built workspace (the builds are shared read-only, by absolute path)."""
    shutil.copytree(settings.workdir, target, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    return replace(settings, workdir=target)


def _as_floats(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda column: pd.to_numeric(column, errors="coerce")).astype("float64")


def _expected_by_merge_asof(build_dir: Path, events: pd.DataFrame) -> pd.DataFrame:
    """Independent point-in-time join: for each event the latest mart row at or before its decision time."""
    expected = events[KEYS].sort_values("event_timestamp").reset_index(drop=True)
    for view, names in MODEL_FEATURES.items():
        mart = pd.read_parquet(mart_path(build_dir, view), columns=[*KEYS, *names])
        mart["event_timestamp"] = mart["event_timestamp"].astype(expected["event_timestamp"].dtype)
        expected = pd.merge_asof(
            expected,
            mart.sort_values("event_timestamp"),
            on="event_timestamp",
            by="ticker",
            direction="backward",
            allow_exact_matches=True,
            tolerance=pd.Timedelta(QUARTERLY_TTL),
        )
    return expected


def test_feature_views_mirror_the_marts(built_sample: Settings) -> None:
    for view, fields in FEATURE_FIELDS.items():
        columns = set(pd.read_parquet(mart_path(built_sample.current_build, view)).columns)
        declared = {field.name for field in fields}
        audit = {c for c in columns if c.endswith("_inputs_known_at")} | {"ticker", "event_timestamp", "event_id"}
        assert declared - {"event_id"} == columns - audit, view


@pytest.fixture(scope="module")
def published_sample(built_sample: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = _workspace_copy(built_sample, tmp_path_factory.mktemp("feast") / "work")
    materialize(settings, date(2025, 7, 1))
    return settings


def test_training_set_equals_an_independent_merge_asof_on_the_sample(published_sample: Settings) -> None:
    _assert_training_set_matches(published_sample)


@pytest.mark.real_snapshot
def test_training_set_equals_an_independent_merge_asof_on_the_real_snapshot(
    built_real: Settings, tmp_path: Path
) -> None:
    settings = _workspace_copy(built_real, tmp_path / "work")
    materialize(settings, date(2025, 12, 9))
    dataset = _assert_training_set_matches(settings)
    assert len(dataset) == 4508


def _assert_training_set_matches(settings: Settings) -> pd.DataFrame:
    dataset = training_set(settings)
    build_dir = Path(published(settings).build_dir)
    events = past_events(build_dir)
    assert len(dataset) == len(events), "no event dropped or duplicated"
    assert dataset["event_id"].is_unique
    expected = _expected_by_merge_asof(build_dir, events)
    got = dataset.set_index(KEYS).sort_index()
    want = expected.set_index(KEYS).sort_index()
    assert got.index.equals(want.index)
    columns = [c for names in MODEL_FEATURES.values() for c in names]
    pd.testing.assert_frame_equal(_as_floats(got[columns]), _as_floats(want[columns]), rtol=1e-12)
    label_columns = {"abs_close_move_pct", "signed_close_move_pct", "abs_gap_move_pct", "moved_up"}
    assert not label_columns & set(columns), "labels are never features"
    return dataset


def test_a_row_one_second_after_the_decision_time_is_not_used(built_sample: Settings, tmp_path: Path) -> None:
    marts = tmp_path / "marts"
    shutil.copytree(built_sample.current_build / "marts", marts)
    history = pd.read_parquet(marts / "historical_move_features.parquet")
    event = history[history["hm_prior_events"] >= 2].iloc[0]
    late = history["event_id"] == event["event_id"]
    history.loc[late, "event_timestamp"] = event["event_timestamp"] + pd.Timedelta(seconds=1)
    history.loc[late, "hm_close_last"] = 999.0
    history.to_parquet(marts / "historical_move_features.parquet", index=False)

    store = open_store(tmp_path / "generation", "ivcrush_pit_test", "sqlite", "")
    store.apply([ticker, *feature_views(marts)])
    entity = pd.DataFrame(
        {
            "ticker": [event["ticker"], event["ticker"]],
            "event_timestamp": [event["event_timestamp"], event["event_timestamp"] + pd.Timedelta(seconds=1)],
        }
    )
    result = store.get_historical_features(entity, ["historical_move_features:hm_close_last"]).to_df()
    by_time = result.set_index("event_timestamp")["hm_close_last"]
    assert by_time.loc[event["event_timestamp"]] != 999.0, "the late row leaked into its event"
    assert by_time.loc[event["event_timestamp"] + pd.Timedelta(seconds=1)] == 999.0


def _online(settings: Settings, tickers: list[str]) -> pd.DataFrame:
    store = open_published_store(settings, published(settings))
    frame = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE_NAME), entity_rows=[{"ticker": t} for t in tickers]
    ).to_df()
    return frame.set_index("ticker").sort_index().sort_index(axis=1)


def test_sqlite_and_redis_serve_the_same_values(published_sample: Settings, tmp_path: Path) -> None:
    events = pd.read_parquet(mart_path(Path(published(published_sample).build_dir), "earnings_events"))
    tickers = sorted(events["ticker"].unique())
    from_sqlite = _online(published_sample, tickers)
    assert from_sqlite["hm_prior_events"].notna().sum() > len(tickers) // 2
    with redis_server() as url:
        redis_settings = _workspace_copy(published_sample, tmp_path / "redis-work")
        redis_settings = replace(redis_settings, online_store="redis", redis_url=url)
        generation = materialize(redis_settings, date(2025, 7, 1))
        assert generation.online_store == "redis"
        from_redis = _online(redis_settings, tickers)
    pd.testing.assert_frame_equal(_as_floats(from_sqlite), _as_floats(from_redis))


def test_a_failure_midway_keeps_the_previous_generation(
    published_sample: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _workspace_copy(published_sample, tmp_path / "work")
    first = materialize(settings, date(2025, 7, 1))
    tickers = sorted(pd.read_parquet(mart_path(Path(first.build_dir), "earnings_events"))["ticker"].unique())
    served = _online(settings, tickers)

    from feast import FeatureStore

    calls = {"n": 0}
    real_materialize = FeatureStore.materialize

    def failing_materialize(self: FeatureStore, start_date: object, end_date: object) -> None:
        """Load the first view for real, then fail: a half-written online store."""
        calls["n"] += 1
        real_materialize(self, start_date, end_date, feature_views=["historical_move_features"])
        raise RuntimeError("disk full while loading the online store")

    monkeypatch.setattr(FeatureStore, "materialize", failing_materialize)
    with pytest.raises(RuntimeError, match="disk full"):
        materialize(settings, date(2025, 8, 1))
    monkeypatch.undo()
    assert calls["n"] == 1
    assert published(settings) == first
    generations = [p.name for p in (settings.feast_dir / "generations").iterdir()]
    assert first.generation_id in generations and len(generations) <= 2
    pd.testing.assert_frame_equal(_online(settings, tickers), served)


def test_materialize_refuses_a_build_that_failed_the_quality_gate(built_sample: Settings, tmp_path: Path) -> None:
    settings = _workspace_copy(built_sample, tmp_path / "work")
    assert isinstance(current_build(settings), BuildResult)
    manifest = settings.current_build / "build.json"
    manifest.write_text(manifest.read_text().replace('"quality_errors": 0', '"quality_errors": 2'))
    with pytest.raises(MaterializeError, match="refusing to publish"):
        materialize(settings, date(2025, 7, 1))
    assert not (settings.feast_dir / "current.json").exists()


_PROBE = """
import sys
from pathlib import Path
from ivcrush.feature_repo.entities import ticker
from ivcrush.feature_repo.feature_services import feature_services
from ivcrush.feature_repo.features import feature_views
import feast
views = feature_views(Path(sys.argv[1]))
assert feature_services(views) and ticker.name == "ticker"
try:
    feast.Entity(name=123, join_keys=["ticker"])
    print("unchecked")
except Exception as exc:
    print(type(exc).__name__)
"""


@pytest.mark.parametrize(("typechecks", "expected"), [("1", "TypeCheckError"), ("0", "unchecked")])
def test_the_feature_repo_passes_feasts_runtime_type_checks(
    built_sample: Settings, typechecks: str, expected: str
) -> None:
    """Feast is imported without typeguard's instrumentation (seconds); with it on, every definition passes."""
    env = {**os.environ, FEAST_TYPECHECKS_ENV: typechecks}
    marts = str(built_sample.current_build.resolve() / "marts")
    done = subprocess.run([sys.executable, "-c", _PROBE, marts], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected

"""The long-lived Predictor and the `ivcrush serve` HTTP API on the sample: the online rows it reads equal
Feast's (SQLite and Redis), its answers equal the CLI's, a new generation or model is picked up between
requests and never mixed with the previous one, and bad input gets the CLI's message with a 4xx."""

from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import cast

import pandas as pd
import pytest
from typer.testing import CliRunner

from ivcrush.build import build
from ivcrush.cli.app import app
from ivcrush.events import merged_notes
from ivcrush.feature_repo.materialize import materialize
from ivcrush.feature_repo.store import open_published_store
from ivcrush.serving import predict as predict_module
from ivcrush.serving.http import default_workers
from ivcrush.serving.online import (
    EVENT_ID_REF,
    NotServableError,
    OnlineReader,
    UnknownEventError,
    calendar_events,
    events_on,
)
from ivcrush.serving.predict import predict_one, predict_state, recommend, scan, scan_payload, scan_state
from ivcrush.serving.predictor import YOUNG_COLLECTION_EVERY, Predictor
from ivcrush.serving.recommendation import Recommendation, RecommendOptions, Refusal
from ivcrush.settings import Settings
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.registry import StoredBoosters, load_latest
from ivcrush.training.release import train_and_register
from ivcrush.workspace import POINTER, generation_build, published
from tests.redis_server import free_port, redis_server, wait_for_port

runner = CliRunner()
SCANNED_MOST = "SELECT earnings_date FROM iv_log GROUP BY earnings_date ORDER BY count(*) DESC, earnings_date LIMIT 1"


@pytest.fixture(scope="module")
def served(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, date]:
    """The sample built, published as of the day 2.0 scanned most events for, and trained."""
    settings = Settings(workdir=tmp_path_factory.mktemp("predictor") / "work", db=sample_db)
    with sqlite3.connect(f"file:{sample_db}?mode=ro&immutable=1", uri=True) as con:
        day = date.fromisoformat(con.execute(SCANNED_MOST).fetchone()[0])
    build(settings)
    materialize(settings, day)
    train_and_register(settings, num_boost_round=40, quick_folds=2)
    return settings, day


def _copy(settings: Settings, folder: Path) -> Settings:
    copy = replace(settings, workdir=folder)
    shutil.copytree(settings.workdir, folder, symlinks=True)
    return copy


def _feast_frame(settings: Settings, tickers: list[str]) -> pd.DataFrame:
    generation = published(settings)
    store = open_published_store(settings, generation)
    service = store.get_feature_service(generation.feature_service)
    refs = [f"{view.name}:{feature.name}" for view in service.feature_view_projections for feature in view.features]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [{"ticker": ticker} for ticker in tickers]
        return store.get_online_features(features=[*refs, EVENT_ID_REF], entity_rows=rows).to_df()


def _assert_reader_equals_feast(settings: Settings, day: date) -> None:
    """The reader's rows equal Feast's, and the frame the models read holds the same values as numbers."""
    generation = published(settings)
    reader = OnlineReader(settings, generation)
    tickers = [*sorted(calendar_events(generation)["ticker"].unique()), "ZZZZ", "AAPL"]  # two never materialized
    mine = reader.read(tickers)
    theirs = _feast_frame(settings, tickers)
    assert set(mine.columns) == set(theirs.columns)
    pd.testing.assert_frame_equal(mine, theirs[mine.columns])
    assert mine["event_id"].notna().sum() > 10  # values were read, not only missing ones
    events = events_on(generation, day)
    served, features = reader.served(events), reader.features(events)
    assert set(features.columns) == set(served.columns) and len(features) == len(events)
    numeric = [column for column in features.columns if features[column].dtype == "float64"]
    assert len(numeric) > 90
    expected = served.assign(**{column: pd.to_numeric(served[column]).astype("float64") for column in numeric})
    pd.testing.assert_frame_equal(features[expected.columns], expected)
    # read again, by a new reader and by the same one: the same
    pd.testing.assert_frame_equal(OnlineReader(settings, generation).features(events), features)
    pd.testing.assert_frame_equal(reader.features(events), features)


def test_the_online_reader_reads_what_feast_serves_from_sqlite(served: tuple[Settings, date]) -> None:
    _assert_reader_equals_feast(*served)


NO_FEAST = """
import runpy, sys
from datetime import date
from pathlib import Path
from ivcrush.serving.http import default_workers
from ivcrush.serving.predictor import Predictor
from ivcrush.settings import Settings

settings = Settings(workdir=Path(sys.argv[1]), db=Path(sys.argv[2]))
answer = Predictor(settings).scan(date.fromisoformat(sys.argv[3]))
assert answer.recommendations
sys.argv = ["ivcrush", "predict", answer.recommendations[0].ticker, "--date", sys.argv[3], "--json",
            "--workdir", sys.argv[1]]
try:
    runpy.run_module("ivcrush.cli", run_name="__main__")
except SystemExit as exit:
    assert not exit.code, exit.code
slow = ("feast", "ibis", "dbt", "great_expectations", "matplotlib", "scipy.optimize", "jinja2", "lightgbm")
print("imported:", sorted(name for name in slow if name in sys.modules))
"""


def test_serving_from_sqlite_imports_no_feast(served: tuple[Settings, date]) -> None:
    """A scan by the Predictor and `ivcrush predict` (the CLI, in the same process) read SQLite without Feast,
    and import none of the slow packages serving does not need."""
    settings, day = served
    args = [str(settings.workdir), str(settings.db), day.isoformat()]
    done = subprocess.run([sys.executable, "-c", NO_FEAST, *args], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "imported: []", done.stdout[-2000:]
    assert json.loads("\n".join(done.stdout.splitlines()[:-1]))["earnings_date"] == day.isoformat()


def test_a_registered_model_gives_its_boosters_text_as_lightgbm_does(served: tuple[Settings, date]) -> None:
    """What serving compiles without LightGBM (the files' text) is what the loaded boosters give."""
    boosters = load_latest(served[0].workdir).boosters
    assert isinstance(boosters, StoredBoosters) and "q50" in boosters and "absent" not in boosters
    texts = boosters.text_models()
    assert set(texts) == set(boosters)
    for name, text in texts.items():
        assert text.model_to_string() == boosters[name].model_to_string(), name


def test_a_generation_without_its_layout_is_refused_until_materialized_again(
    served: tuple[Settings, date], tmp_path: Path
) -> None:
    """A generation published before its online-store layout was recorded: a NotServableError naming
    `ivcrush materialize`, in the API's 503 class; the main job's materialize (`reuse`) makes it again."""
    settings, day = served
    settings = _copy(settings, tmp_path / "work")
    pointer = settings.feast_dir / POINTER
    old = {k: v for k, v in json.loads(pointer.read_text()).items() if k != "online_layout"}
    pointer.write_text(json.dumps(old))
    ticker = events_on(published(settings), day)["ticker"].iloc[0]
    with pytest.raises(NotServableError, match="re-run `ivcrush materialize`"):
        Predictor(settings).scan(day)
    message = _cli_error("predict", ticker, "--date", day.isoformat(), "--workdir", str(settings.workdir))
    assert "does not record its online-store layout; re-run `ivcrush materialize`" in message
    remade = materialize(settings, day, reuse=True)
    assert remade.generation_id != old["generation_id"] and remade.online_layout
    assert Predictor(settings).scan(day).recommendations


def test_the_predictor_answers_as_the_one_request_functions(served: tuple[Settings, date]) -> None:
    settings, day = served
    predictor = Predictor(settings)
    answer = predictor.scan(day, account=settings.account, costs=settings.costs)
    recommendations, refusals = scan(settings, day, account=settings.account, costs=settings.costs)
    assert recommendations
    assert scan_payload(day, answer.recommendations, answer.refusals) == scan_payload(day, recommendations, refusals)
    first = recommendations[0].ticker
    again = predictor.predict(first.lower(), day)  # normalised as the CLI does
    expected = predict_one(settings, first, day, account=settings.account, costs=settings.costs)
    assert again.recommendation.to_dict() == expected.to_dict()
    assert again.state is answer.state  # nothing published in between: the same state, loaded once
    state = answer.state
    assert state.merged_notes(day) == merged_notes(generation_build(state.generation), day)
    assert state.merged_notes(day) is state.merged_notes(day)  # read once per day


def test_an_event_is_read_and_forecast_once_per_state_and_decided_per_request(
    served: tuple[Settings, date], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-event path (`decide_one` on the state's kept forecast) answers as the scan's batch and as a fresh
    state; a kept event is not read again, while each request's implied move still makes its own decision."""
    settings, day = served
    predictor = Predictor(settings)
    scanned = {r.ticker: r.to_dict() for r in predictor.scan(day).recommendations}
    ticker = sorted(scanned)[0]
    assert predictor.predict(ticker, day).recommendation.to_dict() == scanned[ticker]  # one event vs the batch

    def unread(*_: object) -> None:
        raise AssertionError("a kept event's online row was read again")

    monkeypatch.setattr(OnlineReader, "_decoded", unread)
    for implied_move in (3.0, 9.0):
        kept = predictor.predict(ticker, day, implied_move=implied_move, spot=50.0).recommendation
        monkeypatch.undo()
        given = pd.DataFrame({"ticker": [ticker], "implied_move_pct": [implied_move], "spot": [50.0]})
        fresh = predict_one(settings, ticker, day, implied=given, account=settings.account, costs=settings.costs)
        monkeypatch.setattr(OnlineReader, "_decoded", unread)
        assert kept.to_dict() == fresh.to_dict()
        assert kept.decision.implied_total_pct == implied_move


def test_a_scan_of_kept_forecasts_reuses_their_quadrature_nodes_and_answers_as_a_fresh_state(
    served: tuple[Settings, date], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first scan computes its events' nodes at once and keeps them with their forecasts; a second scan
    inverts no quantile function, and every answer equals a fresh state's (which computes them all anew)."""
    settings, _ = served
    state = Predictor(settings).state()
    stored = state.events[state.events["event_timestamp"] <= pd.Timestamp(state.generation.materialized_until)]
    events = stored.sort_values("event_timestamp").groupby("ticker").tail(1).tail(12).reset_index(drop=True)
    implied = pd.DataFrame({"ticker": events["ticker"], "implied_move_pct": 6.0, "spot": 100.0})
    options: RecommendOptions = {"implied": implied, "account": settings.account, "costs": settings.costs}
    one = cast(str, events["ticker"].iloc[0])
    predict_state(state, one, pd.Timestamp(events["earnings_date"].iloc[0]).date(), **options)  # its own nodes first

    def payload(answer: tuple[list[Recommendation], list[Refusal]]) -> list[dict[str, object]]:
        return [r.to_dict() for r in answer[0]] + [{"refused": r.ticker, "reason": r.reason} for r in answer[1]]

    first = payload(recommend(state, events, **options))
    assert len(recommend(state, events, **options)[0]) >= 5

    def inverted(*_: object) -> None:
        raise AssertionError("the nodes of a kept forecast were computed again")

    with monkeypatch.context() as patched:
        patched.setattr(MoveDistribution, "ppf_each", inverted)
        again = payload(recommend(state, events, **options))
    assert first == again == payload(recommend(Predictor(settings).state(), events, **options))


def test_a_warmed_state_answers_its_upcoming_events_without_reading_and_keeps_a_bounded_number(
    served: tuple[Settings, date], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, day = served
    expected = scan_payload(day, *scan(settings, day, account=settings.account, costs=settings.costs))
    state = Predictor(settings).state()
    assert state.warm() >= len(expected["recommendations"])  # type: ignore[arg-type]

    def unread(*_: object) -> None:
        raise AssertionError("a warmed event's online row was read again")

    with monkeypatch.context() as patched:
        patched.setattr(OnlineReader, "_decoded", unread)
        warmed = scan_state(state, day, account=settings.account, costs=settings.costs)
    assert scan_payload(day, *warmed) == expected
    assert len(expected["recommendations"]) + len(expected["refused"]) >= 2  # type: ignore[arg-type]
    monkeypatch.setattr(predict_module, "MAX_KEPT_FORECASTS", 1)
    fresh = Predictor(settings).state()
    assert scan_payload(day, *scan_state(fresh, day, account=settings.account, costs=settings.costs)) == expected
    assert len(fresh._forecasts) == 1  # the newest of the day's events (served or refused)


def test_a_long_lived_state_is_out_of_the_garbage_collectors_sight(served: tuple[Settings, date]) -> None:
    """Once a state serves a second request, full collections no longer walk it (they did in about 1 of 100
    scans, ~40 ms on the snapshot); one request (the CLI's) leaves the collector as it was."""
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        predictor = Predictor(served[0])
        state = predictor.state()
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
        assert predictor.state() is state
        assert gc.get_freeze_count() > 0
        assert not any(tracked is state for tracked in gc.get_objects())
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_predict_without_a_date_serves_the_tickers_next_upcoming_event(served: tuple[Settings, date]) -> None:
    settings, day = served
    predictor = Predictor(settings)
    state = predictor.state()
    events = state.events.assign(day=pd.to_datetime(state.events["earnings_date"]).dt.date)
    upcoming = events[(events["day"] >= date.fromisoformat(state.generation.as_of)) & ~events["has_outcome"]]
    next_day = upcoming.groupby("ticker")["day"].min()
    recommended = {r.ticker for r in predictor.scan(day).recommendations}
    ticker = next(t for t in next_day[next_day == day].index if t in recommended)  # its event on `day` is served
    answer = predictor.predict(ticker, implied_move=7.5).recommendation
    assert answer.earnings_date == day.isoformat()
    assert answer.to_dict() == predictor.predict(ticker, day, implied_move=7.5).recommendation.to_dict()
    all_known = replace(state, events=state.events.assign(has_outcome=True))  # every outcome stored: none upcoming
    with pytest.raises(UnknownEventError, match=f"no upcoming calendar event for {ticker}"):
        predict_state(all_known, ticker, None)


def test_a_new_generation_or_model_is_taken_between_requests_and_never_mixed(
    served: tuple[Settings, date], tmp_path: Path
) -> None:
    """Requests run in threads while a new model and then a new generation are published: every answer comes
    from one (generation, model) state and equals what that state's one-request answer is."""
    settings = _copy(served[0], tmp_path / "work")
    day = served[1]
    predictor = Predictor(settings)
    first = predictor.scan(day)
    answers: list[tuple[str, str | None, dict[str, object]]] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            answer = predictor.scan(day)
            payload = scan_payload(day, answer.recommendations, answer.refusals)
            answers.append((answer.state.generation.generation_id, answer.state.model_id, payload))

    workers = [threading.Thread(target=ask) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        train_and_register(settings, num_boost_round=15, quick_folds=2)  # a different model: different answers
        time.sleep(0.3)
        generation = materialize(settings, day)
        time.sleep(0.3)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    last = predictor.scan(day)
    assert last.state.generation.generation_id == generation.generation_id
    assert last.state.model_id != first.state.model_id
    seen = {(g, m) for g, m, _ in answers}
    assert (first.state.generation.generation_id, first.state.model_id) in seen and len(seen) >= 2, seen
    # what each state answers, from a fresh one-request predictor over a copy frozen at that publication
    truth = {
        (first.state.generation.generation_id, first.state.model_id): scan_payload(
            day, first.recommendations, first.refusals
        ),
        (last.state.generation.generation_id, last.state.model_id): scan_payload(
            day, last.recommendations, last.refusals
        ),
    }
    fresh = scan(settings, day)
    assert scan_payload(day, *fresh) == truth[(generation.generation_id, last.state.model_id)]
    for key, model_id in [(k, k[1]) for k in seen if k not in truth]:  # new model, old generation
        assert model_id == last.state.model_id
        truth[key] = truth[(generation.generation_id, model_id)]
    for generation_id, model_id, payload in answers:
        assert payload == truth[(generation_id, model_id)], (generation_id, model_id)


# --- the HTTP API -----------------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, dict[str, str], object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@contextmanager
def api_server(settings: Settings, workers: int = 1) -> Iterator[str]:
    """`ivcrush serve` on 127.0.0.1 (a free port) over the workspace; stopped by its pid."""
    port = free_port()
    command = [sys.executable, "-m", "ivcrush.cli", "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        [*command, "--workdir", str(settings.workdir)],
        env={**os.environ, "IVCRUSH_HOME": str(settings.workdir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, process, 120, "ivcrush serve")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _cli_json(*args: str) -> object:
    result = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _cli_error(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 2, result.output
    return " ".join(result.output.split()).removeprefix("error: ")


def _cli_usage_error(*args: str) -> str:
    """The message of the CLI's usage error (an option or argument it cannot parse), its box's lines joined."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    lines = [line.strip("│ ") for line in result.output.splitlines() if line.startswith("│")]
    return " ".join(" ".join(lines).split())


def _check_api(base: str, settings: Settings, day: date) -> dict[str, object]:
    """The API's answers equal the CLI's `--json`, its errors carry the CLI's messages; returns its bodies."""
    work = ["--workdir", str(settings.workdir)]
    generation = published(settings)
    status, headers, health = _get(f"{base}/health")
    assert status == 200 and isinstance(health, dict)
    assert health["generation"] == generation.generation_id and health["as_of"] == generation.as_of
    assert health["model"] and headers["x-ivcrush-model"] == health["model"]
    status, headers, body = _get(f"{base}/scan/{day}")
    assert status == 200 and body == _cli_json("scan", day.isoformat(), *work)
    assert headers["x-ivcrush-generation"] == generation.generation_id
    assert isinstance(body, dict) and body["recommendations"]
    ticker = body["recommendations"][0]["ticker"]
    status, _, single = _get(f"{base}/predict/{ticker.lower()}?date={day}&implied_move=7.5")
    assert status == 200
    assert single == _cli_json("predict", ticker, "--date", day.isoformat(), "--implied-move", "7.5", *work)
    cases = [
        (f"/predict/ZZZZ?date={day}", 404, ["predict", "ZZZZ", "--date", day.isoformat()]),
        ("/predict/AB'--", 400, ["predict", "AB'--"]),
        (
            f"/predict/{ticker}?date={day}&implied_move=75",
            400,
            ["predict", ticker, "--date", str(day), "--implied-move", "75"],
        ),
        ("/scan/2031-01-02", 404, ["scan", "2031-01-02"]),
    ]
    for path, code, args in cases:
        status, _, error = _get(base + path.replace("'", "%27"))
        assert status == code, (path, error)
        assert error == {"error": _cli_error(*args, *work)}, path
    status, _, error = _get(f"{base}/predict/{ticker}?date=2025-13-01")
    assert status == 400 and "does not match the format" in str(error)
    usage = [
        (f"/predict/{ticker}?date=2025-13-01", ["predict", ticker, "--date", "2025-13-01"]),
        (f"/predict/{ticker}?date=20251030", ["predict", ticker, "--date", "20251030"]),
        (f"/predict/{ticker}?date={day}&implied_move=abc", ["predict", ticker, "--implied-move", "abc"]),
        (f"/predict/{ticker}?date={day}&preset=foo", ["predict", ticker, "--preset", "foo"]),
        (f"/predict/{ticker}?expiration=2025-1", ["predict", ticker, "--expiration", "2025-1"]),
        ("/scan/2025-13-01", ["scan", "2025-13-01"]),
    ]
    for path, args in usage:
        status, _, error = _get(base + path)
        assert status == 400 and error == {"error": _cli_usage_error(*args, *work)}, path
    return {"scan": body, "predict": single}


def test_the_api_answers_as_the_cli_over_sqlite(served: tuple[Settings, date]) -> None:
    settings, day = served
    with api_server(settings) as base:
        _check_api(base, settings, day)


def test_the_api_answers_as_the_cli_over_redis_with_two_workers(served: tuple[Settings, date], tmp_path: Path) -> None:
    settings, day = served
    with api_server(settings) as base:
        from_sqlite = _check_api(base, settings, day)
    with redis_server() as url:
        redis_settings = replace(_copy(settings, tmp_path / "work"), online_store="redis", redis_url=url)
        assert materialize(redis_settings, day).online_store == "redis"
        _assert_reader_equals_feast(redis_settings, day)
        with api_server(redis_settings, workers=2) as base:
            from_redis = _check_api(base, redis_settings, day)
    assert from_redis == from_sqlite


def test_serve_refuses_an_address_it_cannot_listen_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        message = _cli_error("serve", "--port", port, "--workdir", str(tmp_path / "work"))
    assert f"--port {port}: cannot listen there" in message


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (16, 4)])
def test_serve_runs_a_worker_per_core_unless_told(monkeypatch: pytest.MonkeyPatch, cores: int, workers: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cores)))
    assert default_workers() == workers

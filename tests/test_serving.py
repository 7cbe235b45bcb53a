"""Serving end to end on the sample: scan and predict agree, the calibrated distribution and what qualifies it
(basis, thin history, AMC, stale market features), refusals, and the 2.0 write-back."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from ivcrush.build import build
from ivcrush.cli.app import app
from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.feature_repo.materialize import materialize
from ivcrush.serving import predict as serving_predict
from ivcrush.serving.forecasts import AMC_NOTE
from ivcrush.serving.online import ServingError, events_on, online_features, online_features_on
from ivcrush.serving.predict import predict_one, scan
from ivcrush.serving.pricing import black_scholes
from ivcrush.settings import Settings
from ivcrush.training.predict import REFERENCE_BASIS, reference_distribution, serving_prior
from ivcrush.training.registry import load_latest
from ivcrush.training.release import train_and_register
from ivcrush.workspace import Generation, published
from tests.conftest import file_digest

runner = CliRunner()


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _table(path: Path, table: str) -> pd.DataFrame:
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as con:
        return pd.read_sql_query(f"SELECT * FROM {table} ORDER BY rowid", con)


@pytest.fixture(scope="module")
def served(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, date]:
    """A private copy of the sample database, built, published as of its busiest scanned date, trained."""
    folder = tmp_path_factory.mktemp("serving")
    db = folder / "user" / "ivcrush.db"
    db.parent.mkdir()
    shutil.copy2(sample_db, db)
    scans = _table(db, "iv_log")
    day = date.fromisoformat(scans["earnings_date"].value_counts().idxmax())
    settings = Settings(workdir=folder / "work", db=db)
    build(settings)
    materialize(settings, day)
    train_and_register(settings, num_boost_round=60, quick_folds=2)
    return settings, day


def test_scan_ranks_the_days_events_and_predict_agrees(served: tuple[Settings, date]) -> None:
    settings, day = served
    recommendations, refusals = scan(settings, day)
    assert recommendations, [r.reason for r in refusals]
    ranks = [(r.decision.contracts == 0, -r.decision.ev_per_risk) for r in recommendations]
    assert ranks == sorted(ranks)
    first = recommendations[0]
    single = predict_one(settings, first.ticker, day)
    assert single.decision.to_dict() == first.decision.to_dict()
    assert single.forecast == first.forecast
    for rec in recommendations:
        d = rec.decision
        assert d.contracts == 0 or d.ev_per_contract > 0
        assert None in (d.short_put_strike, d.short_call_strike) or d.short_put_strike < d.short_call_strike
        assert set(d.explain) >= {"vrp_ml", "vrp_2_0", "contracts"}
        # the forecast carries its MoveDistribution's parameters, and the decision was taken on that distribution
        forecast = rec.forecast
        assert [forecast["quantiles"][str(level)] for level in QUANTILE_LEVELS] == pytest.approx(
            rec.distribution.quantiles[0].tolist()
        )
        assert (forecast["tail_shape"], forecast["tail_scale"]) == pytest.approx(
            (rec.distribution.tail_shape[0], rec.distribution.tail_scale[0])
        )
        assert d.prob_move_exceeds_implied == pytest.approx(float(rec.distribution.sf(d.implied_earnings_pct)))
        assert d.prob_loss > 0, "every structure sold here can lose money: P(loss) is never 0"


def test_forecasts_state_thin_history_amc_and_stale_market_features(
    served: tuple[Settings, date], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, day = served
    recommendations, _ = scan(settings, day)
    for rec in recommendations:
        thin = rec.forecast["prior_trusted_moves"] <= 2
        assert rec.forecast["thin_history"] == thin
        assert any(note.startswith("thin history:") for note in rec.notes) == thin
        assert (AMC_NOTE in rec.notes) == (rec.timing == "AMC")
    assert any(r.forecast["thin_history"] for r in recommendations)
    assert any(r.timing == "AMC" for r in recommendations)
    # stale: the newest stored outcome more than stale_market_days (10) before the decision, and the forecast says so
    decided = online_features_on(settings, day)["event_timestamp"].max()
    for newest, stale in ((decided - pd.Timedelta(days=12), True), (decided - pd.Timedelta(days=8), False)):
        monkeypatch.setattr(serving_predict, "newest_outcome", lambda _, newest=newest: newest)
        for rec in scan(settings, day)[0]:
            assert rec.forecast["market_features_stale"] is stale
            assert any(note.startswith("market features STALE") for note in rec.notes) is stale


def test_thin_history_is_refused_with_the_reason_when_configured(served: tuple[Settings, date]) -> None:
    settings, day = served
    widened, _ = scan(settings, day)
    recommendations, refusals = scan(replace(settings, thin_history="refuse"), day)
    thin = {r.ticker for r in widened if r.forecast["thin_history"]}
    assert thin and {r.ticker for r in refusals} >= thin
    assert not {r.ticker for r in recommendations} & thin
    for refusal in refusals:
        if refusal.ticker in thin:
            assert refusal.reason.startswith("thin history:") and 'thin_history = "refuse"' in refusal.reason


def test_a_model_without_pinball_skill_serves_the_trusted_scaled_history(
    served: tuple[Settings, date], tmp_path: Path
) -> None:
    settings, day = served
    copy = replace(settings, workdir=tmp_path / "work")
    shutil.copytree(settings.workdir, copy.workdir, symlinks=True)
    folder = copy.workdir / "models" / load_latest(copy.workdir).model_id
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["metrics"]["verdicts"]["move_size"]["skill"] = False
    (folder / "metadata.json").write_text(json.dumps(metadata))
    recommendations, _ = scan(copy, day)
    assert recommendations and {r.basis for r in recommendations} == {REFERENCE_BASIS}
    generation = published(copy)
    features = online_features(copy, generation, events_on(generation, day))
    prior = serving_prior(features, amc_labels_untrusted=copy.amc_labels_untrusted)
    reference = reference_distribution(load_latest(copy.workdir), features, prior)
    row = {ticker: i for i, ticker in enumerate(features["ticker"])}
    for rec in recommendations:
        np.testing.assert_allclose(rec.distribution.quantiles[0], reference.quantiles[row[rec.ticker]])
        assert rec.forecast["tail_scale"] == pytest.approx(reference.tail_scale[row[rec.ticker]])
        assert any("no pinball skill" in note for note in rec.notes)


def test_every_scan_row_says_why_its_size_and_explain_prints_the_reasoning(
    served: tuple[Settings, date], tmp_path: Path
) -> None:
    """Each row's size has a reason; `scan --explain T` and `predict T` print T's full reasoning; quotes in the
    CSV make the credit a market one, and without them it is labelled modelled."""
    settings, day = served
    recommendations, _ = scan(settings, day)
    assert all(r.decision.size_reason for r in recommendations)
    last = recommendations[-1]
    work = ["--workdir", str(settings.workdir)]
    result = _invoke("scan", day.isoformat(), "--explain", last.ticker.lower(), *work)
    assert result.exit_code == 0, result.output
    for rec in recommendations:
        assert f"size {rec.ticker}: {rec.decision.contracts}, {rec.decision.size_reason}" in result.output
    assert f"{last.ticker} explained" in result.output
    assert last.decision.explain["contracts"] in " ".join(result.output.split("\n"))
    assert "mod." in result.output and "modelled" in last.decision.explain["credit_per_contract"].lower()
    single = _invoke("predict", last.ticker, "--date", day.isoformat(), *work)
    assert single.exit_code == 0 and f"{last.ticker} explained" in single.output
    spot = 100.0
    quotes = tmp_path / "quotes.csv"
    expiration = (pd.Timestamp(day) + pd.offsets.BDay(5)).date().isoformat()
    lines = ["ticker,expiration,strike,type,bid,ask,spot"]
    for strike in range(60, 141, 1):
        for kind in ("put", "call"):
            value = float(black_scholes(spot, strike, 0.08, kind))
            lines.append(
                f"{last.ticker},{expiration},{strike},{kind},{max(value - 0.05, 0):.2f},{value + 0.05:.2f},{spot}"
            )
    quotes.write_text("\n".join(lines) + "\n")
    quoted = _invoke("scan", day.isoformat(), "--implied-moves", str(quotes), "--json", *work)
    assert quoted.exit_code == 0, quoted.output
    rows = {r["ticker"]: r for r in json.loads(quoted.output)["recommendations"]}
    assert rows[last.ticker]["decision"]["credit_source"] == "market quotes"
    assert rows[last.ticker]["decision"]["expiration"] == expiration
    assert all(r["decision"]["credit_source"] == "modelled" for t, r in rows.items() if t != last.ticker)


def test_refusals_have_clear_messages_and_exit_codes(served: tuple[Settings, date]) -> None:
    settings, day = served
    work = str(settings.workdir)
    cases = [
        (["predict", "ZZZZ", "--workdir", work], "unknown ticker ZZZZ"),
        (["predict", "AB;DROP TABLE", "--workdir", work], "malformed ticker"),
        (["predict", "AB'--", "--workdir", work], "malformed ticker"),
    ]
    events = scan(settings, day)[0]
    ticker = events[0].ticker
    cases += [
        (["predict", ticker, "--date", day.isoformat(), "--implied-move", "0", "--workdir", work], "not positive"),
        (["predict", ticker, "--date", day.isoformat(), "--implied-move", "-3", "--workdir", work], "not positive"),
        (["predict", ticker, "--date", day.isoformat(), "--implied-move", "75", "--workdir", work], "absurd"),
        (["predict", ticker, "--date", "2031-01-02", "--workdir", work], "no calendar event"),
        (["scan", "2031-01-02", "--workdir", work], "no calendar event"),
        (["online-features", "2031-01-02", "--workdir", work], "no calendar event"),
    ]
    for args, message in cases:
        result = _invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)


def test_online_features_command_serves_the_days_events(served: tuple[Settings, date]) -> None:
    settings, day = served
    result = _invoke("online-features", day.isoformat(), "--workdir", str(settings.workdir), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    events = events_on(published(settings), day)
    assert [[row["ticker"], row["event_id"]] for row in rows] == events[["ticker", "event_id"]].to_numpy().tolist()


def test_a_request_reads_one_generation_even_if_another_is_published_meanwhile(
    served: tuple[Settings, date], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request resolves the published generation once: a second resolution would see generation B
    (published by a `materialize` in between; its build and online store do not exist) and fail."""
    settings, day = served
    generation_a = published(settings)
    generation_b = replace(
        generation_a,
        generation_id="generation-b",
        project="ivcrush_generation_b",
        build_id="build-b",
        build_dir=str(tmp_path / "builds" / "build-b"),
    )
    resolutions: list[Generation] = []

    def resolve(_: Settings) -> Generation:
        resolutions.append(generation_a if not resolutions else generation_b)
        return resolutions[-1]

    resolvers = [
        m
        for name, m in sys.modules.items()
        if name.startswith("ivcrush") and getattr(m, "published", None) is published
    ]
    for module in resolvers:
        monkeypatch.setattr(module, "published", resolve)
    expected = {r.ticker: r.to_dict() for r in scan(settings, day)[0]}
    ticker = next(iter(expected))
    requests: dict[str, Callable[[], object]] = {
        "scan": lambda: scan(settings, day),
        "predict_one": lambda: predict_one(settings, ticker, day),
        "online_features_on": lambda: online_features_on(settings, day),
    }
    for name, request in requests.items():
        resolutions.clear()
        request()
        assert resolutions == [generation_a], name
    resolutions.clear()
    assert predict_one(settings, ticker, day).to_dict() == expected[ticker]


def test_a_stale_online_store_is_refused(served: tuple[Settings, date], tmp_path: Path) -> None:
    settings, day = served
    stale = replace(settings, workdir=tmp_path / "work")
    shutil.copytree(settings.workdir, stale.workdir, symlinks=True)
    build(stale)  # a newer build than the one the online store was materialized from
    with pytest.raises(ServingError, match="older than the latest build"):
        scan(stale, day)


def test_scan_never_opens_the_database_for_writing_without_the_flag(served: tuple[Settings, date]) -> None:
    settings, day = served
    before = file_digest(settings.db)
    result = _invoke("scan", day.isoformat(), "--workdir", str(settings.workdir), "--db", str(settings.db))
    assert result.exit_code == 0, result.output
    assert file_digest(settings.db) == before
    assert sorted(p.name for p in settings.db.parent.iterdir()) == ["ivcrush.db"]


def test_write_back_fills_only_the_ml_columns_of_the_scanned_rows(
    served: tuple[Settings, date], tmp_path: Path
) -> None:
    settings, day = served
    db = tmp_path / "user" / "ivcrush.db"
    db.parent.mkdir()
    shutil.copy2(settings.db, db)
    workdir = str(settings.workdir)
    tables = ["historical_moves", "earnings_calendar", "trade_journal", "iv_log", "schema_migrations"]
    before = {t: _table(db, t) for t in tables}
    result = _invoke("scan", day.isoformat(), "--write-back", "--workdir", workdir, "--db", str(db), "--json")
    assert result.exit_code == 0, result.output
    after = {t: _table(db, t) for t in tables}
    for table in tables[:-2]:
        pd.testing.assert_frame_equal(before[table], after[table])
    ml = ["ml_predicted_move_pct", "ml_confidence"]
    old, new = before["iv_log"], after["iv_log"]
    pd.testing.assert_frame_equal(old.drop(columns=ml), new.drop(columns=ml))
    changed = (old[ml].astype(float).fillna(-1) != new[ml].astype(float).fillna(-1)).any(axis=1)
    assert changed.any()
    assert set(new.loc[changed, "earnings_date"]) == {day.isoformat()}
    assert new.loc[changed, "ml_predicted_move_pct"].gt(0).all()
    # the forecast MEAN |move| (2.0 divides the implied move by it as by its own mean), not the median
    scanned = json.JSONDecoder().raw_decode(result.output)[0]["recommendations"]  # the write-back line follows
    forecasts = {(r["ticker"], r["earnings_date"]): r["forecast"] for r in scanned}
    written = new.loc[changed].groupby(["ticker", "earnings_date"])["ml_predicted_move_pct"].first()
    assert set(written.index) <= set(forecasts)
    for key, value in written.items():
        assert value == pytest.approx(forecasts[key]["mean"])
        assert value != pytest.approx(forecasts[key]["point"])
    backups = list((settings.workdir / "backups").glob("*.db"))
    assert backups and any(_table(b, "iv_log").equals(old) for b in backups)

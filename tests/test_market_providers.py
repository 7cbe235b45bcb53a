"""Providers and `collect` against recorded-format responses (tests/fixtures/market): parsing, the key kept out
of URLs and messages, retries with backoff, the rate limit, incremental and resumable collection. A socket
guard fails any test that would reach the network."""

from __future__ import annotations

import io
import socket
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ivcrush.cli.app import app
from ivcrush.market import providers
from ivcrush.market.collect import collect_options, collect_prices, missing_days
from ivcrush.market.providers import HttpClient, PolygonProvider, ProviderError, YahooProvider, api_key
from ivcrush.market.schema import PRICES, QUOTES, MarketDataError, validate
from ivcrush.market.store import market_dir, read_dataset, read_manifest
from ivcrush.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "market"
KEY = "sk-test-SECRET-123"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a test tried to reach the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


class Recorded:
    """An opener serving fixture files (or errors) in turn, recording each request."""

    def __init__(self, *responses: str | int) -> None:
        self.responses = list(responses)
        self.requests: list[urllib.request.Request] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> bytes:
        assert timeout > 0
        self.requests.append(request)
        response = self.responses.pop(0)
        if isinstance(response, int):
            raise urllib.error.HTTPError(request.full_url, response, "status", {}, io.BytesIO())  # type: ignore[arg-type]
        return (FIXTURES / response).read_bytes()


def _client(opener: Recorded, sleeps: list[float] | None = None) -> HttpClient:
    return HttpClient(min_interval_s=0.0, opener=opener, sleep=(sleeps if sleeps is not None else []).append)


def test_the_guard_blocks_the_network() -> None:
    with pytest.raises(AssertionError, match="network"):
        socket.create_connection(("example.com", 443), timeout=1)


def test_yahoo_recorded_response() -> None:
    opener = Recorded("yahoo_chart_ABC.json")
    bars = YahooProvider(client=_client(opener)).daily_prices("ABC", date(2024, 7, 1), date(2024, 7, 8))
    assert bars["date"].tolist() == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-08"]  # the null bar dropped
    checked = validate(bars, PRICES, "yahoo")
    assert checked["close"].tolist() == [101.2, 102.3, 101.0, 103.8]
    url = opener.requests[0].full_url
    assert url.startswith("https://query1.finance.yahoo.com/v8/finance/chart/ABC?")
    assert "period1=1719792000" in url and "interval=1d" in url


def test_yahoo_error_names_the_ticker() -> None:
    provider = YahooProvider(client=_client(Recorded("yahoo_chart_not_found.json")))
    with pytest.raises(ProviderError, match="yahoo ZZZZ: No data found"):
        provider.daily_prices("ZZZZ", date(2024, 7, 1), date(2024, 7, 8))


def test_polygon_key_in_a_header_never_in_url_or_message() -> None:
    opener = Recorded("polygon_aggs_ABC.json", 403)
    provider = PolygonProvider(key=KEY, client=_client(opener))
    bars = provider.daily_prices("ABC", date(2024, 7, 1), date(2024, 7, 8))
    assert bars["date"].tolist() == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-08"]
    validate(bars, PRICES, "polygon")
    request = opener.requests[0]
    assert request.get_header("Authorization") == f"Bearer {KEY}"
    assert KEY not in request.full_url and "/range/1/day/2024-07-01/2024-07-08" in request.full_url
    with pytest.raises(ProviderError) as info:
        provider.daily_prices("ABC", date(2024, 7, 1), date(2024, 7, 8))
    assert "HTTP 403" in str(info.value) and KEY not in str(info.value)
    assert KEY not in repr(provider)


def test_polygon_refused_body_and_index_symbol() -> None:
    opener = Recorded("polygon_unauthorized.json")
    with pytest.raises(ProviderError, match="Unknown API Key"):
        PolygonProvider(key=KEY, client=_client(opener)).daily_prices("^VIX", date(2024, 7, 1), date(2024, 7, 8))
    assert "/ticker/I%3AVIX/" in opener.requests[0].full_url


def test_retries_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    opener = Recorded(503, 429, "yahoo_chart_ABC.json")
    client = HttpClient(min_interval_s=0.0, backoff_s=1.5, opener=opener, sleep=sleeps.append)
    assert client.get("https://x/y", {}, "t")
    assert sleeps == [1.5, 3.0]
    with pytest.raises(ProviderError, match="t: HTTP 500 status after 4 attempts"):
        HttpClient(min_interval_s=0.0, opener=Recorded(500, 500, 500, 500), sleep=sleeps.append).get(
            "https://x", {}, "t"
        )
    with pytest.raises(ProviderError, match="HTTP 404"):  # not retried
        HttpClient(min_interval_s=0.0, opener=Recorded(404, "yahoo_chart_ABC.json")).get("https://x", {}, "t")


def test_network_errors_are_retried_then_reported() -> None:
    def offline(request: urllib.request.Request, timeout: float) -> bytes:
        raise urllib.error.URLError("Temporary failure in name resolution")

    sleeps: list[float] = []
    with pytest.raises(ProviderError, match="network error \\(Temporary failure in name resolution\\) after 3"):
        HttpClient(attempts=3, opener=offline, sleep=sleeps.append).get("https://x", {}, "yahoo SPY")
    assert len(sleeps) >= 2


def test_rate_limit_spaces_requests() -> None:
    sleeps: list[float] = []
    client = HttpClient(min_interval_s=30.0, opener=Recorded("yahoo_chart_ABC.json", "yahoo_chart_ABC.json"))
    client.sleep = sleeps.append
    client.get("https://x", {}, "t")
    client.get("https://x", {}, "t")
    assert len(sleeps) == 1 and 29 < sleeps[0] <= 30


def test_api_key_from_environment_or_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    env_file = tmp_path / ".env"
    assert api_key("POLYGON_API_KEY", env_file) is None
    with pytest.raises(MarketDataError, match="needs POLYGON_API_KEY"):
        providers.provider("polygon", env_file)
    env_file.write_text("# keys\nOTHER=1\nexport POLYGON_API_KEY='from-file'\n")
    assert api_key("POLYGON_API_KEY", env_file) == "from-file"
    monkeypatch.setenv("POLYGON_API_KEY", "from-env")
    assert providers.provider("polygon", env_file).key == "from-env"  # type: ignore[attr-defined]


class FakeProvider:
    """Bars of a synthetic series for any range; fails on the tickers in `failing`; records every request."""

    name = "fake"

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.requests: list[tuple[str, date, date]] = []

    def daily_prices(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        self.requests.append((ticker, start, end))
        if ticker in self.failing:
            raise ProviderError(f"fake {ticker}: HTTP 503 after 4 attempts")
        days = pd.bdate_range(start, end)
        return pd.DataFrame(
            {"ticker": ticker, "date": days.strftime("%Y-%m-%d"), "open": 10.0, "high": 11.0, "low": 9.0,
             "close": 10.5, "volume": 100}
        )  # fmt: skip


def test_collect_is_incremental_and_resumable(tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "work")
    flaky = FakeProvider(failing={"BBB"})
    first = collect_prices(settings, flaky, ["AAA", "BBB"], date(2024, 7, 1), date(2024, 7, 12))
    assert first.failures.keys() == {"BBB"} and first.tickers_fetched == ["AAA"]
    assert first.rows_written == 9  # 10 weekdays less 4 July: only trading days are stored
    stored = read_dataset(market_dir(settings), PRICES)
    assert set(stored["ticker"]) == {"AAA"}

    resumed = FakeProvider()
    second = collect_prices(settings, resumed, ["AAA", "BBB"], date(2024, 7, 1), date(2024, 7, 12))
    assert second.tickers_complete == ["AAA"] and resumed.requests == [("BBB", date(2024, 7, 1), date(2024, 7, 12))]

    later = FakeProvider()
    progress: list[tuple[str, int, int]] = []
    third = collect_prices(
        settings, later, ["AAA", "BBB"], date(2024, 7, 1), date(2024, 7, 19), lambda *step: progress.append(step)
    )
    assert later.requests == [
        ("AAA", date(2024, 7, 15), date(2024, 7, 19)),
        ("BBB", date(2024, 7, 15), date(2024, 7, 19)),
    ]
    assert third.rows_written == 10 and progress == [("AAA", 1, 2), ("BBB", 2, 2)]
    updates = read_manifest(market_dir(settings))["daily_prices"]["updates"]
    assert updates[-1]["source"] == "fake:BBB:2024-07-15..2024-07-19" and "fetched_at" in updates[-1]
    assert (
        missing_days(read_dataset(market_dir(settings), PRICES), "AAA", date(2024, 7, 1), date(2024, 7, 19)).size == 0
    )


def test_collect_cli_with_recorded_responses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "_urlopen", Recorded("yahoo_chart_ABC.json", "yahoo_chart_not_found.json"))
    work = str(tmp_path / "work")
    args = ["collect", "prices", "--tickers", "abc,zzzz", "--from", "2024-07-01", "--to", "2024-07-08"]
    result = CliRunner().invoke(app, [*args, "--workdir", work])
    assert result.exit_code == 1, result.output
    assert "4 bars written; 1 tickers fetched, 0 already complete, 1 failed" in result.output
    assert "failed ZZZZ: yahoo ZZZZ: No data found" in result.output
    stored = read_dataset(market_dir(Settings(workdir=Path(work))), PRICES)
    assert len(stored) == 4


def test_yahoo_option_chain_two_expirations() -> None:
    opener = Recorded("yahoo_options_ABC.json", "yahoo_options_ABC_next.json")
    chain = YahooProvider(client=_client(opener)).option_chain("ABC", 2)
    checked = validate(chain, QUOTES, "yahoo options")
    assert sorted(set(chain["expiration"])) == ["2024-07-12", "2024-07-19"] and len(chain) == 8
    assert (checked["as_of"] == pd.Timestamp("2024-07-08 19:45", tz="UTC")).all()
    assert opener.requests[0].full_url == "https://query1.finance.yahoo.com/v7/finance/options/ABC"
    assert opener.requests[1].full_url.endswith("?date=1721347200")  # 2024-07-19, from the first answer's list


def test_polygon_option_chain_first_expirations_key_in_header() -> None:
    opener = Recorded("polygon_options_ABC.json")
    chain = PolygonProvider(key=KEY, client=_client(opener)).option_chain("ABC", 2)
    checked = validate(chain, QUOTES, "polygon options")
    assert sorted(set(chain["expiration"])) == ["2024-07-12", "2024-07-19"] and set(chain["type"]) == {"C", "P"}
    assert (checked["as_of"] == pd.Timestamp("2024-07-08 19:45", tz="UTC")).all()
    assert KEY not in opener.requests[0].full_url


class FakeChains:
    name = "fake"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def option_chain(self, ticker: str, expirations: int) -> pd.DataFrame:
        self.asked.append(ticker)
        return pd.DataFrame(
            {"ticker": ticker, "as_of": "2024-07-08T19:45:00+00:00", "expiration": "2024-07-12", "strike": [100.0],
             "type": "C", "bid": 1.0, "ask": 1.2, "iv": 0.4}
        )  # fmt: skip


def test_collect_options_skips_tickers_quoted_today(tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path / "work")
    same_day = pd.Timestamp("2024-07-08 21:00", tz="UTC")
    first = FakeChains()
    assert collect_options(settings, first, ["AAA"], now=same_day).rows_written == 1  # type: ignore[arg-type]
    again = FakeChains()
    result = collect_options(settings, again, ["AAA", "BBB"], now=same_day)  # type: ignore[arg-type]
    assert again.asked == ["BBB"] and result.tickers_complete == ["AAA"]
    next_day = FakeChains()
    collect_options(settings, next_day, ["AAA"], now=same_day + pd.Timedelta(days=1))  # type: ignore[arg-type]
    assert next_day.asked == ["AAA"]
    assert len(read_dataset(market_dir(settings), QUOTES)) == 2  # same key: the newer snapshot replaced it


def test_collect_options_cli_with_recorded_responses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "_urlopen", Recorded("yahoo_options_ABC.json", "yahoo_options_ABC_next.json"))
    work = str(tmp_path / "work")
    result = CliRunner().invoke(app, ["collect", "options", "--tickers", "ABC", "--workdir", work])
    assert result.exit_code == 0, result.output
    assert "8 quotes written; 1 tickers fetched" in result.output

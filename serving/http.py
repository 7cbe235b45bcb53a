"""`ivcrush serve`: the HTTP API over one long-lived `Predictor` per worker process.

    GET /predict/{ticker}?date=&implied_move=&straddle=&spot=&expiration=&preset=
    GET /scan/{date}?preset=
    GET /health

Bodies are the JSON that `ivcrush predict --json` and `ivcrush scan --json` print (the same functions make
them); each answer names the generation and the model it came from in the `X-Ivcrush-Generation` and
`X-Ivcrush-Model` headers (one state per request: never two). A user-facing error is `{"error": message}`
with the CLI's message: 404 for an unknown ticker or a day without events, 503 where nothing servable is
published (no generation, a stale online store, no model, an unreachable online store), 400 otherwise.
The handlers are coroutines that answer in the event loop: a request is a few milliseconds of CPU (and a
loopback read for Redis), cheaper than a hand-off to a thread; several workers serve in parallel.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from ivcrush.constants import TIER_PRESETS
from ivcrush.errors import IvcrushError
from ivcrush.events import merged_notes
from ivcrush.feature_repo.store import OnlineStoreError
from ivcrush.serving.online import NotServableError, UnknownEventError
from ivcrush.serving.predict import ServingState, scan_payload
from ivcrush.serving.predictor import Predictor
from ivcrush.settings import Settings, load_settings
from ivcrush.workspace import NotPublishedError, generation_build

GENERATION_HEADER = "X-Ivcrush-Generation"
MODEL_HEADER = "X-Ivcrush-Model"
UNAVAILABLE = (NotPublishedError, NotServableError, OnlineStoreError)


def _json(payload: object, status: int = 200, state: ServingState | None = None) -> Response:
    """The payload as the CLI's `--json` prints it (dates and other objects as their strings)."""
    headers = {}
    if state is not None:
        headers = {GENERATION_HEADER: state.generation.generation_id, MODEL_HEADER: state.model_id or ""}
    return Response(json.dumps(payload, default=str), status, headers, media_type="application/json")


class BadRequestError(IvcrushError):
    """A request parameter the API cannot use; the message is the CLI's for the same option."""


def _day(value: str, name: str) -> date:
    """A date given as YYYY-MM-DD, refused with the CLI's wording otherwise."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"Invalid value for '{name}': '{value}' does not match the format '%Y-%m-%d'.") from None


def _preset(value: str) -> str:
    if value not in TIER_PRESETS:
        raise BadRequestError(f"Invalid value for '--preset': {value!r} is not one of {', '.join(TIER_PRESETS)}")
    return value


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over one `Predictor` of the workspace (`settings`, else the environment's: `ivcrush serve`
    passes its workspace to its worker processes as IVCRUSH_HOME)."""
    predictor = Predictor(settings or load_settings())
    with contextlib.suppress(IvcrushError):  # warm: the state and its online-store reader before the first request
        predictor.state().reader()
    app = FastAPI(title="ivcrush", summary="Earnings IV-crush recommendations from the published feature store")

    @app.exception_handler(IvcrushError)
    async def user_error(_: Request, exc: IvcrushError) -> Response:
        status = 404 if isinstance(exc, UnknownEventError) else 503 if isinstance(exc, UNAVAILABLE) else 400
        return _json({"error": str(exc)}, status)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(_: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
        return _json({"error": f"invalid request: {problems}"}, 400)

    @app.get("/health")
    async def health() -> Response:
        """The generation, model and as-of date that requests are answered from now."""
        state = predictor.state()
        generation = state.generation
        payload = {
            "generation": generation.generation_id,
            "build": generation.build_id,
            "model": state.model_id,
            "as_of": generation.as_of,
            "online_store": generation.online_store,
            "servable": state.model is not None,
            "problem": None if state.refusal is None else str(state.refusal),
        }
        return _json(payload, 200 if state.model is not None else 503, state)

    @app.get("/predict/{ticker}")
    async def predict(
        ticker: str,
        day: Annotated[str | None, Query(alias="date")] = None,
        implied_move: float | None = None,
        straddle: float | None = None,
        spot: float | None = None,
        expiration: str | None = None,
        preset: str = "balanced",
    ) -> Response:
        """`ivcrush predict TICKER --json`: the ticker's event (its next one if no date) with the full reasoning."""
        answer = predictor.predict(
            ticker,
            None if day is None else _day(day, "--date"),
            implied_move=implied_move,
            straddle=straddle,
            spot=spot,
            expiration=None if expiration is None else _day(expiration, "--expiration"),
            preset=_preset(preset),
        )
        return _json(answer.recommendation.to_dict(), state=answer.state)

    @app.get("/scan/{day}")
    async def scan(day: str, preset: str = "balanced") -> Response:
        """`ivcrush scan DATE --json`: every calendar event of the day, ranked."""
        answer = predictor.scan(_day(day, "EARNINGS_DATE"), preset=_preset(preset))
        merged = merged_notes(generation_build(answer.state.generation), answer.day)
        return _json(scan_payload(answer.day, answer.recommendations, answer.refusals, merged), state=answer.state)

    return app

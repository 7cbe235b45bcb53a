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
import os
import re
from datetime import date, datetime

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from ivcrush.constants import TIER_PRESETS
from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.store import OnlineStoreError
from ivcrush.serving.online import NotServableError, UnknownEventError
from ivcrush.serving.predict import ServingState, scan_payload
from ivcrush.serving.predictor import Predictor
from ivcrush.settings import Settings, load_settings
from ivcrush.workspace import NotPublishedError

MAX_DEFAULT_WORKERS = 4  # each worker holds its own state (the calendar, the model, the kept forecasts)
GENERATION_HEADER = "X-Ivcrush-Generation"
MODEL_HEADER = "X-Ivcrush-Model"
UNAVAILABLE = (NotPublishedError, NotServableError, OnlineStoreError)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # a date exactly as YYYY-MM-DD (ASCII digits)


def default_workers() -> int:
    """`ivcrush serve`'s worker processes unless given: one per core this process may run on (at most
    MAX_DEFAULT_WORKERS). A worker answers one request at a time, each a millisecond or two of CPU: with one
    worker, concurrent clients queue even where a core is idle."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


def _json(payload: object, status: int = 200, state: ServingState | None = None) -> Response:
    """The payload as the CLI's `--json` prints it (dates and other objects as their strings)."""
    headers = {}
    if state is not None:
        headers = {GENERATION_HEADER: state.generation.generation_id, MODEL_HEADER: state.model_id or ""}
    return Response(json.dumps(payload, default=str), status, headers, media_type="application/json")


class BadRequestError(IvcrushError):
    """A request parameter the API cannot use; the message is the CLI's for the same option."""


def _day(value: str, name: str) -> date:
    """A date given as YYYY-MM-DD, refused with the CLI's wording otherwise (`date.fromisoformat` where the text
    is exactly YYYY-MM-DD: the same date as `strptime`'s: 0.6 instead of 11 us)."""
    try:
        if _ISO_DAY.fullmatch(value):
            return date.fromisoformat(value)
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        message = f"Value error, '{value}' does not match the formats '%Y-%m-%d'."
        raise BadRequestError(f"Invalid value for '{name}': {message}") from None


def _preset(value: str) -> str:
    if value not in TIER_PRESETS:
        choices = ", ".join(f"'{preset}'" for preset in TIER_PRESETS)
        raise BadRequestError(f"Invalid value for '--preset': Value error, '{value}' is not one of {choices}.")
    return value


def _float(request: Request, name: str, option: str) -> float | None:
    """A number parameter (None where absent), refused with the CLI's wording for its option."""
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        message = "Input should be a valid number, unable to parse string as a number"
        raise BadRequestError(f"Invalid value for '{option}': {message}") from None


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over one `Predictor` of the workspace (`settings`, else the environment's: `ivcrush serve`
    passes its workspace to its worker processes as IVCRUSH_HOME).

    The routes are plain Starlette endpoints that parse their few parameters themselves: FastAPI's parameter
    validation (pydantic) cost more per request than the routing, the answer's JSON and the headers together.
    """
    predictor = Predictor(settings or load_settings(), warm=True)  # upcoming events forecast in the background
    with contextlib.suppress(IvcrushError):  # warm: the state and its online-store reader before the first request
        predictor.state().reader()
    app = FastAPI(title="ivcrush", summary="Earnings IV-crush recommendations from the published feature store")

    @app.exception_handler(IvcrushError)
    async def user_error(_: Request, exc: IvcrushError) -> Response:
        status = 404 if isinstance(exc, UnknownEventError) else 503 if isinstance(exc, UNAVAILABLE) else 400
        return _json({"error": str(exc)}, status)

    async def health(_: Request) -> Response:
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

    async def predict(request: Request) -> Response:
        """`ivcrush predict TICKER --json`: the ticker's event (its next one if no date) with the full reasoning.
        Query: date, implied_move, straddle, spot, expiration, preset."""
        query = request.query_params
        day, expiration = query.get("date"), query.get("expiration")
        answer = predictor.predict(
            request.path_params["ticker"],
            None if day is None else _day(day, "--date"),
            implied_move=_float(request, "implied_move", "--implied-move"),
            straddle=_float(request, "straddle", "--straddle"),
            spot=_float(request, "spot", "--spot"),
            expiration=None if expiration is None else _day(expiration, "--expiration"),
            preset=_preset(query.get("preset", "balanced")),
        )
        return _json(answer.recommendation.to_dict(), state=answer.state)

    async def scan(request: Request) -> Response:
        """`ivcrush scan DATE --json`: every calendar event of the day, ranked. Query: preset."""
        day = _day(request.path_params["day"], "earnings_date")
        answer = predictor.scan(day, preset=_preset(request.query_params.get("preset", "balanced")))
        merged = answer.state.merged_notes(answer.day)
        return _json(scan_payload(answer.day, answer.recommendations, answer.refusals, merged), state=answer.state)

    app.router.add_route("/health", health, methods=["GET"])
    app.router.add_route("/predict/{ticker}", predict, methods=["GET"])
    app.router.add_route("/scan/{day}", scan, methods=["GET"])
    return app

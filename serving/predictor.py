"""A long-lived predictor: the published generation, its calendar, the model and its calibration, and the
online store's reader, loaded once and served from memory until a newer publication.

Every request takes the current `ServingState` once (a cheap check of the pointer file, the `current` build
link and the models folder; reloaded only where one of them changed) and is answered from that state alone:
a new generation or model replaces the state in one assignment, so no request ever mixes two. The CLI makes
one for one request; `ivcrush serve` keeps one per worker process. Both answer through the same functions
(`ivcrush.serving.predict`), so their results are identical.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from dataclasses import dataclass
from datetime import date
from typing import Unpack

from ivcrush.errors import IvcrushError
from ivcrush.serving.heap import keep_freed_heap
from ivcrush.serving.implied import implied_from_options, normalise_ticker
from ivcrush.serving.predict import (
    Recommendation,
    RecommendOptions,
    Refusal,
    ServingState,
    load_state,
    predict_state,
    scan_state,
)
from ivcrush.settings import Settings
from ivcrush.training.registry import models_dir
from ivcrush.workspace import POINTER

# (inode, modification time in ns, size) of a file or folder; None where it does not exist
Stamp = tuple[int, int, int] | None
YOUNG_COLLECTION_EVERY = 20_000  # a settled state's gc threshold 0 (`_out_of_gc_sight`)


def _stat(path: os.PathLike[str] | str) -> Stamp:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def _link(path: os.PathLike[str] | str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def given_implied(
    ticker: str,
    implied_move: float | None,
    straddle: float | None = None,
    spot: float | None = None,
    expiration: date | None = None,
) -> dict[str, object] | None:
    """The implied move, spot and expiration given with one request (`ivcrush predict`'s options), as the
    row `predict_state` takes; None where none is given."""
    implied, spot_price = implied_from_options(implied_move, straddle, spot)
    if implied is None and spot_price is None:
        return None
    return {"ticker": ticker, "implied_move_pct": implied, "spot": spot_price, "expiration": expiration}


def _warm(state: ServingState) -> None:
    """`state.warm()`, where the state can serve (else its requests say why)."""
    with contextlib.suppress(IvcrushError):
        state.warm()


def _out_of_gc_sight() -> None:
    """Collects what is garbage, then moves every object alive (the state, the modules) to the garbage
    collector's permanent generation: a full collection walked them all (~40 ms on the snapshot, about once in
    100 scans: their p99); now it walks only what requests made since. Frozen objects that die later (a
    replaced state) are collected when the next state settles. The youngest generation is then collected every
    YOUNG_COLLECTION_EVERY net allocations instead of 700: a 100-event scan made ~3 collections (~0.3 ms) of
    objects it frees itself anyway (measured)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


@dataclass(frozen=True)
class Prediction:
    """One ticker's answer and the state (generation and model) it came from."""

    state: ServingState
    recommendation: Recommendation


@dataclass(frozen=True)
class Scan:
    """A day's ranked answer and the state (generation and model) it came from."""

    state: ServingState
    day: date
    recommendations: list[Recommendation]
    refusals: list[Refusal]


class Predictor:
    """Serves `predict` and `scan` from a state loaded once per publication (thread-safe)."""

    def __init__(self, settings: Settings, *, warm: bool = False) -> None:
        """`warm`: forecast each new state's upcoming events in a background thread (`ServingState.warm`), so
        that their first requests find them kept (the server's choice; the CLI answers one request)."""
        self.settings = settings
        self._warm = warm
        # as text, made once: a request stats them
        self._paths = tuple(
            str(path) for path in (settings.feast_dir / POINTER, settings.current_build, models_dir(settings.workdir))
        )
        self._lock = threading.Lock()
        self._current: tuple[tuple[object, ...], ServingState] | None = None  # replaced whole, never changed
        self._settled: ServingState | None = None  # the state that serves a second request is out of gc's sight

    def _watched(self) -> tuple[object, ...]:
        """What a publication changes: the generation pointer (replaced by a rename), the `current` build link,
        the models folder (a model is renamed into it)."""
        pointer, build, models = self._paths
        return _stat(pointer), _link(build), _stat(models)

    def state(self) -> ServingState:
        """The current state: the one in memory while nothing was published since it was read, else a new one.
        A state asked for again is long-lived (a server's, not one CLI request's): it is then moved out of the
        garbage collector's sight once (`_out_of_gc_sight`, ~60 ms), and the process keeps the memory requests
        free for the next ones (`heap.keep_freed_heap`)."""
        stamp = self._watched()
        current = self._current
        if current is not None and current[0] == stamp:
            if self._settled is not current[1]:
                with self._lock:
                    if self._settled is not current[1]:
                        _out_of_gc_sight()
                        keep_freed_heap()
                        self._settled = current[1]
            return current[1]
        with self._lock:
            current = self._current
            if current is None or current[0] != stamp:
                # stamped before reading: a publication during the read is seen (and reloaded) by the next request
                current = self._current = (stamp, load_state(self.settings))
                if self._warm:
                    threading.Thread(target=_warm, args=(current[1],), name="ivcrush-warm", daemon=True).start()
            return current[1]

    def predict(
        self,
        ticker: str,
        earnings_date: date | None = None,
        *,
        implied_move: float | None = None,
        straddle: float | None = None,
        spot: float | None = None,
        expiration: date | None = None,
        preset: str = "balanced",
    ) -> Prediction:
        """One ticker's recommendation (its next event if no date), as `ivcrush predict` gives it."""
        symbol = normalise_ticker(ticker)
        implied = given_implied(symbol, implied_move, straddle, spot, expiration)
        state = self.state()
        options: RecommendOptions = {
            "account": self.settings.account,
            "costs": self.settings.costs,
            "preset": preset,
        }
        return Prediction(state, predict_state(state, symbol, earnings_date, given=implied, **options))

    def scan(self, earnings_date: date, **options: Unpack[RecommendOptions]) -> Scan:
        """Every calendar event on a date, ranked, as `ivcrush scan` gives it (the settings' account and costs
        unless given)."""
        options.setdefault("account", self.settings.account)
        options.setdefault("costs", self.settings.costs)
        state = self.state()
        recommendations, refusals = scan_state(state, earnings_date, **options)
        return Scan(state, earnings_date, recommendations, refusals)

"""Black-Scholes of big arrays on two threads, half of the rows each: the very same values as on one thread, and
a forked child (the main job forks its online load) makes its own thread instead of waiting on its parent's."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from ivcrush.serving import pricing
from ivcrush.serving.pricing import TWO_THREADS_FROM, black_scholes_legs, option_values

ROWS, POINTS = 180, 585  # a scan's legs of one kind at every quadrature move: above TWO_THREADS_FROM


def _exit_prices(rows: int, seed: int) -> np.ndarray:
    """Spots after signed moves, one row a leg; a spot at 0 (the stock to zero) in the last row only, so that
    the two halves take different paths of the zero-spot guard."""
    moves = np.random.default_rng(seed).normal(0.0, 0.25, (rows, POINTS))
    prices = np.maximum(100 * (1 + moves), 0.0)
    prices[-1, 0] = 0.0
    return prices


def _priced(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    prices = _exit_prices(ROWS, seed)
    strikes, sigmas = rng.uniform(60.0, 140.0, (ROWS, 1)), rng.uniform(0.01, 0.3, (ROWS, 1))
    values = [option_values(prices, strikes, sigmas, call=call) for call in (False, True)]
    spots = prices.ravel()[: 2 * TWO_THREADS_FROM // 8]
    legs, kinds = rng.uniform(60.0, 140.0, 16), np.arange(16) % 2 == 0
    values.append(black_scholes_legs(spots, legs, 0.05, kinds))  # both kinds in one pass, legs in rows
    values.append(black_scholes_legs(spots, np.append(legs, 0.0), 0.05, np.append(kinds, True)))  # kind by kind
    return values


def test_big_arrays_are_priced_as_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ROWS * POINTS >= TWO_THREADS_FROM
    threaded = _priced(1)
    monkeypatch.setattr(pricing, "TWO_THREADS_FROM", 10**12)
    for got, alone in zip(threaded, _priced(1), strict=True):
        np.testing.assert_array_equal(got, alone)


def test_small_and_scalar_inputs_stay_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "_second_thread", [])
    assert float(pricing.black_scholes(100.0, 95.0, 0.05, "put")) >= 0.0
    option_values(_exit_prices(2, 2), np.full((2, 1), 100.0), np.full((2, 1), 0.05), call=True)
    assert pricing._second_thread == []


def _price_in_child(results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    results.put(len(_priced(3)))


def test_a_forked_child_uses_its_own_thread() -> None:
    _priced(4)  # the parent's second thread exists
    assert pricing._second_thread
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_price_in_child, args=(results,))
    child.start()
    child.join(timeout=30)
    if child.is_alive():  # waiting on the parent's thread, which a fork does not copy
        child.kill()
        pytest.fail("the forked child hung on its parent's thread")
    assert child.exitcode == 0
    assert results.get(timeout=5) == 4

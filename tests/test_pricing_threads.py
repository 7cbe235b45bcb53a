"""Black-Scholes' normal CDFs on two threads for big arrays: the very same values, and a forked child (the main
job forks its online load) makes its own thread instead of waiting on its parent's."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
from scipy.special import ndtr

from ivcrush.serving import pricing
from ivcrush.serving.pricing import TWO_THREADS_FROM, black_scholes_legs, normal_cdfs, option_values

BIG = 2 * TWO_THREADS_FROM


def _arguments(size: int, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).normal(0.0, 6.0, size)
    values[:6] = [np.inf, -np.inf, np.nan, -40.0, 9.0, 0.0]
    return values


@pytest.mark.parametrize("size", [10, TWO_THREADS_FROM - 1, TWO_THREADS_FROM, BIG])
def test_normal_cdfs_are_ndtr(size: int) -> None:
    first, second = _arguments(size, 1), _arguments(size, 2)
    got_first, got_second = normal_cdfs(first, second)
    np.testing.assert_array_equal(got_first, ndtr(first))
    np.testing.assert_array_equal(got_second, ndtr(second))


def test_big_arrays_are_priced_as_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    spots = np.concatenate([[0.0], 100 * (1 + rng.normal(0.0, 0.2, BIG // 4))])
    strikes = rng.uniform(60.0, 140.0, 8)
    calls = np.arange(8) % 2 == 0
    column = spots.reshape(-1, 1)
    threaded = [black_scholes_legs(spots, strikes, 0.05, calls)]
    threaded += [option_values(column, strikes, np.asarray(0.05), call=call) for call in (False, True)]
    monkeypatch.setattr(pricing, "TWO_THREADS_FROM", 10**12)
    alone = [black_scholes_legs(spots, strikes, 0.05, calls)]
    alone += [option_values(column, strikes, np.asarray(0.05), call=call) for call in (False, True)]
    for got, expected in zip(threaded, alone, strict=True):
        np.testing.assert_array_equal(got, expected)


def _cdfs_in_child(results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    first = _arguments(BIG, 4)
    results.put(bool(np.array_equal(normal_cdfs(first, first)[0], ndtr(first), equal_nan=True)))


def test_a_forked_child_uses_its_own_thread() -> None:
    normal_cdfs(_arguments(BIG, 5), _arguments(BIG, 6))  # the parent's second thread exists
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_cdfs_in_child, args=(results,))
    child.start()
    child.join(timeout=30)
    if child.is_alive():  # waiting on the parent's thread, which a fork does not copy
        child.kill()
        pytest.fail("the forked child hung on its parent's thread")
    assert child.exitcode == 0
    assert results.get(timeout=5) is True

"""Brent's root finder for many brackets at once: step for step the algorithm of `scipy.optimize.brentq`
(scipy/optimize/Zeros/brentq.c), run on arrays, so every root is the very float scipy returns for its bracket,
while the function is evaluated once per step for all the brackets still open. Each step costs the array loop
about the same numpy calls however few brackets are open, a bracket's step on Python floats about a microsecond:
with few brackets open (`FEW`) the steps go on on Python floats (the same IEEE operations, the same roots)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

SCIPY_RTOL = 4 * float(np.finfo(float).eps)  # scipy.optimize.brentq's default rtol
MAX_ITERATIONS = 100  # ... and its default maxiter
FEW = 32  # with up to this many brackets open the steps run on Python floats (16 to 64 measured alike on a scan)

# f(x, which): the function of each bracket `which` (indices into the brackets) at x, one value per bracket
BracketFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]
# the same on Python floats: f(xs, which) -> one value per x
ListFunction = Callable[[list[float], list[int]], list[float]]


def brentq_many(
    f: BracketFunction,
    a: np.ndarray,
    b: np.ndarray,
    *,
    xtol: float | np.ndarray,
    rtol: float | np.ndarray = SCIPY_RTOL,
    maxiter: int = MAX_ITERATIONS,
    ends: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The roots of the brackets [a_i, b_i] (f(a_i), f(b_i) of opposite signs), as `brentq` finds them;
    `ends`: f(a) and f(b) where already known (the very values f gives there), else f is asked."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    n = a.size
    everyone = np.arange(n)
    fa, fb = (f(a, everyone), f(b, everyone)) if ends is None else ends
    fa, fb = _checked(fa), _checked(fb)

    def on_lists(x: list[float], which: list[int]) -> list[float]:
        return list(f(np.array(x), np.array(which, dtype=np.intp)).tolist())

    if n <= FEW:
        ends_ = (fa.tolist(), fb.tolist())
        return np.array(brentq_few(on_lists, a.tolist(), b.tolist(), ends_, _each(xtol, n), _each(rtol, n), maxiter))
    xtol = np.broadcast_to(np.asarray(xtol, dtype="float64"), (n,))
    rtol = np.broadcast_to(np.asarray(rtol, dtype="float64"), (n,))
    if np.any(fa * fb > 0):
        raise ValueError("f(a) and f(b) must have different signs")
    root = np.where(fa == 0, a, b)
    open_ = (fa != 0) & (fb != 0)
    state = np.stack([a, b, np.zeros(n), fa, fb, np.zeros(n)])  # xpre, xcur, xblk, fpre, fcur, fblk (scipy's)
    spre, scur = np.zeros(n), np.zeros(n)
    # Every bracket steps on the whole arrays (fewer numpy calls than gathering the open ones); a closed one's
    # numbers go on changing unused: its root is taken when it closes, and f is asked only for open ones. The
    # x and f rows are stacked so that a swap or a new block moves them in one call.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = open_.nonzero()[0]
        for done_steps in range(maxiter):
            if k.size <= FEW:  # the rest on Python floats, from the very state the next step would start from
                if k.size:
                    states = {
                        i: ((xp, xc, xb, fp, fb, sp, sc), fc)
                        for i, xp, xc, xb, fp, fc, fb, sp, sc in zip(
                            k.tolist(), *state[:, k].tolist(), spre[k].tolist(), scur[k].tolist(), strict=True
                        )
                    }
                    found = _steps_on_floats(on_lists, states, xtol.tolist(), rtol.tolist(), maxiter - done_steps)
                    root[list(found)] = list(found.values())
                return root
            xpre, xcur, _, fpre, fcur, _ = state
            flip = (fpre != 0) & (fcur != 0) & (np.signbit(fpre) != np.signbit(fcur))
            np.copyto(state[2::3], state[0::3], where=flip)  # xblk, fblk = xpre, fpre
            width = xcur - xpre
            np.copyto(spre, width, where=flip)
            np.copyto(scur, width, where=flip)
            ends = np.abs(state[4:])  # |fcur|, |fblk|
            # a swap where |fblk| < |fcur|; np.where gives a fresh array, changed in place below
            state = np.where(ends[1] < ends[0], state.take(_SWAPPED, axis=0), state)
            xpre, xcur, xblk, fpre, fcur, fblk = state
            delta = (xtol + rtol * np.abs(xcur)) / 2
            sbis = (xblk - xcur) / 2
            size = np.abs(sbis)
            closing = ((fcur == 0) | (size < delta)) & open_
            np.copyto(root, xcur, where=closing)
            open_ ^= closing
            falling = -fcur
            interpolated = falling * (xcur - xpre) / (fcur - fpre)
            dpre = (fpre - fcur) / (xpre - xcur)
            dblk = (fblk - fcur) / (xblk - xcur)
            extrapolated = falling * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            stry = np.where(xpre == xblk, interpolated, extrapolated)
            previous = np.abs(spre)
            values = np.abs(state[3:5])  # |fpre|, |fcur|
            limit = 3 * size - delta
            short = (previous > delta) & (values[1] < values[0])
            # scipy's bound min(|spre|, limit); np.minimum's choice between zeros of two signs or its NaN where
            # |spre| is NaN cannot change the comparison (short needs |spre| > delta)
            short &= 2 * np.abs(stry) < np.minimum(previous, limit)
            spre, scur = np.where(short, scur, sbis), np.where(short, stry, sbis)
            step = np.where(np.abs(scur) > delta, scur, np.where(sbis > 0, delta, -delta))
            state[0], state[3] = xcur, fcur  # xpre, fpre = xcur, fcur
            state[1] += step
            k = open_.nonzero()[0]
            if k.size:
                state[4, k] = _checked(f(state[1, k], k))
    if open_.any():
        raise RuntimeError(f"Failed to converge after {maxiter} iterations")
    return root


# the rows after a swap: xpre, xcur, xblk = xcur, xblk, xcur (and the same for f)
_SWAPPED = np.array([1, 2, 1, 4, 5, 4])


# One bracket's Brent state besides f at its xcur: xpre, xcur, xblk, fpre, fblk, spre, scur (scipy's names)
State = tuple[float, float, float, float, float, float, float]


def _step(state: State, fc: float, xtol: float, rtol: float) -> State | float:
    """One of scipy's Brent steps on Python floats (`fc`: f at the state's xcur): the root where the bracket
    has converged, else the next state (its xcur the point where f is asked next)."""
    xp, xc, xb, fp, fb, sp, sc = state
    if fp != 0 and fc != 0 and (fp < 0) != (fc < 0):
        xb, fb = xp, fp
        sp = sc = xc - xp
    if abs(fb) < abs(fc):
        xp, xc, xb = xc, xb, xc
        fp, fc, fb = fc, fb, fc
    delta = (xtol + rtol * abs(xc)) / 2
    sbis = (xb - xc) / 2
    size = abs(sbis)  # scipy's fabs(sbis), and below fabs(spre), each taken once
    if fc == 0 or size < delta:
        return xc
    previous = abs(sp)
    if previous > delta and abs(fc) < abs(fp):
        try:
            if xp == xb:
                stry = -fc * (xc - xp) / (fc - fp)
            else:
                dpre, dblk = (fp - fc) / (xp - xc), (fb - fc) / (xb - xc)
                stry = -fc * (fb * dblk - fp * dpre) / (dblk * dpre * (fb - fp))
        except ZeroDivisionError:  # C's division gives inf or nan there: never a short step
            stry = math.nan
        bound = 3 * size - delta
        sp, sc = (sc, stry) if 2 * abs(stry) < (previous if previous < bound else bound) else (sbis, sbis)
    else:
        sp = sc = sbis
    step = sc if abs(sc) > delta else (delta if sbis > 0 else -delta)
    return xc, xc + step, xb, fc, fb, sp, sc


def brentq_one(
    f: Callable[[float], float],
    a: float,
    b: float,
    *,
    xtol: float,
    rtol: float = SCIPY_RTOL,
    maxiter: int = MAX_ITERATIONS,
    ends: tuple[float, float] | None = None,
) -> float:
    """`brentq_many` of one bracket [a, b] of a function on Python floats (no arrays made per step): the root
    scipy's brentq finds; `ends`: f(a) and f(b) where already known."""
    a, b = float(a), float(b)
    fa, fb = (f(a), f(b)) if ends is None else ends
    if math.isnan(fa) or math.isnan(fb):
        raise ValueError("The function value at x is NaN")
    if fa * fb > 0:
        raise ValueError("f(a) and f(b) must have different signs")
    if fa == 0 or fb == 0:
        return a if fa == 0 else b
    state: State = (a, b, 0.0, fa, 0.0, 0.0, 0.0)
    fc = fb
    for _ in range(maxiter):
        after = _step(state, fc, xtol, rtol)
        if not isinstance(after, tuple):
            return after
        state, fc = after, f(after[1])
        if math.isnan(fc):
            raise ValueError("The function value at x is NaN")
    raise RuntimeError(f"Failed to converge after {maxiter} iterations")


def brentq_few(
    f: ListFunction,
    a: list[float],
    b: list[float],
    ends: tuple[list[float], list[float]],
    xtol: list[float],
    rtol: list[float],
    maxiter: int = MAX_ITERATIONS,
) -> list[float]:
    """`brentq_many` of a few brackets [a_i, b_i] given as Python floats with their f(a), f(b) (`ends`) and
    tolerances: each bracket's steps on Python floats (`_step`), f (on lists: no arrays made here) still once
    per step for all the open brackets; the roots as Python floats."""
    (xpre, xcur), (fpre, fcur) = (a, b), ends
    if any(math.isnan(value) for value in (*fpre, *fcur)):
        raise ValueError("The function value at x is NaN")
    if any(fp * fc > 0 for fp, fc in zip(fpre, fcur, strict=True)):
        raise ValueError("f(a) and f(b) must have different signs")
    root = [xp if fp == 0 else xc for xp, xc, fp in zip(xpre, xcur, fpre, strict=True)]
    states: dict[int, tuple[State, float]] = {
        i: ((xpre[i], xcur[i], 0.0, fpre[i], 0.0, 0.0, 0.0), fcur[i])
        for i in range(len(xpre))
        if fpre[i] != 0 and fcur[i] != 0
    }
    for i, found in _steps_on_floats(f, states, xtol, rtol, maxiter).items():
        root[i] = found
    return root


def _steps_on_floats(
    f: ListFunction, states: dict[int, tuple[State, float]], xtol: list[float], rtol: list[float], maxiter: int
) -> dict[int, float]:
    """The roots of the open brackets `states` (bracket: its state and f at its xcur; tolerances indexed as the
    brackets), at most `maxiter` steps each: every bracket's steps on Python floats (`_step`), f once per step
    for all the brackets still open."""
    roots: dict[int, float] = {}
    for _ in range(maxiter):
        if not states:
            return roots
        stepped: dict[int, State] = {}
        for i, (state, fc) in states.items():
            after = _step(state, fc, xtol[i], rtol[i])
            if isinstance(after, tuple):
                stepped[i] = after
            else:
                roots[i] = after
        values = f([state[1] for state in stepped.values()], list(stepped)) if stepped else []
        if any(math.isnan(value) for value in values):
            raise ValueError("The function value at x is NaN")
        states = {i: (state, value) for (i, state), value in zip(stepped.items(), values, strict=True)}
    if states:
        raise RuntimeError(f"Failed to converge after {maxiter} iterations")
    return roots


def _each(tolerance: float | np.ndarray, n: int) -> list[float]:
    """A tolerance (one for all, or one per bracket) as n Python floats."""
    if isinstance(tolerance, float):
        return [float(tolerance)] * n
    return np.broadcast_to(np.asarray(tolerance, dtype="float64"), (n,)).tolist()


def _checked(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    if np.isnan(values).any():
        raise ValueError("The function value at x is NaN")
    return values

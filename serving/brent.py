"""Brent's root finder for many brackets at once: step for step the algorithm of `scipy.optimize.brentq`
(scipy/optimize/Zeros/brentq.c), run on arrays, so every root is the very float scipy returns for its bracket,
while the function is evaluated once per step for all the brackets still open."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

SCIPY_RTOL = 4 * np.finfo(float).eps  # scipy.optimize.brentq's default rtol
MAX_ITERATIONS = 100  # ... and its default maxiter
FEW = 8  # up to this many brackets the steps run on Python floats (the same IEEE doubles, without numpy's calls)

# f(x, which): the function of each bracket `which` (indices into the brackets) at x, one value per bracket
BracketFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def brentq_many(
    f: BracketFunction,
    a: np.ndarray,
    b: np.ndarray,
    *,
    xtol: float | np.ndarray,
    rtol: float | np.ndarray = SCIPY_RTOL,
    maxiter: int = MAX_ITERATIONS,
) -> np.ndarray:
    """The roots of the brackets [a_i, b_i] (f(a_i), f(b_i) of opposite signs), as `brentq` finds them."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    n = a.size
    xtol = np.broadcast_to(np.asarray(xtol, dtype="float64"), (n,))
    rtol = np.broadcast_to(np.asarray(rtol, dtype="float64"), (n,))
    if n <= FEW:
        return _few(f, a.tolist(), b.tolist(), xtol.tolist(), rtol.tolist(), maxiter)
    everyone = np.arange(n)
    xpre, xcur = a.copy(), b.copy()
    fpre, fcur = _checked(f(xpre, everyone)), _checked(f(xcur, everyone))
    if np.any(fpre * fcur > 0):
        raise ValueError("f(a) and f(b) must have different signs")
    root = np.where(fpre == 0, xpre, xcur)
    open_ = (fpre != 0) & (fcur != 0)
    xblk, fblk, spre, scur = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(maxiter):
            i = np.flatnonzero(open_)
            if i.size == 0:
                return root
            xp, xc, xb, fp, fc, fb, sp, sc = xpre[i], xcur[i], xblk[i], fpre[i], fcur[i], fblk[i], spre[i], scur[i]
            flip = (fp != 0) & (fc != 0) & (np.signbit(fp) != np.signbit(fc))
            xb, fb = np.where(flip, xp, xb), np.where(flip, fp, fb)
            sp, sc = np.where(flip, xc - xp, sp), np.where(flip, xc - xp, sc)
            swap = np.abs(fb) < np.abs(fc)
            xp, xc, xb = np.where(swap, xc, xp), np.where(swap, xb, xc), np.where(swap, xc, xb)
            fp, fc, fb = np.where(swap, fc, fp), np.where(swap, fb, fc), np.where(swap, fc, fb)
            delta = (xtol[i] + rtol[i] * np.abs(xc)) / 2
            sbis = (xb - xc) / 2
            done = (fc == 0) | (np.abs(sbis) < delta)
            root[i[done]] = xc[done]
            open_[i[done]] = False
            interpolated = -fc * (xc - xp) / (fc - fp)
            dpre = (fp - fc) / (xp - xc)
            dblk = (fb - fc) / (xb - xc)
            extrapolated = -fc * (fb * dblk - fp * dpre) / (dblk * dpre * (fb - fp))
            stry = np.where(xp == xb, interpolated, extrapolated)
            tried = (np.abs(sp) > delta) & (np.abs(fc) < np.abs(fp))
            bound = np.where(np.abs(sp) < 3 * np.abs(sbis) - delta, np.abs(sp), 3 * np.abs(sbis) - delta)
            short = tried & (2 * np.abs(stry) < bound)
            sp, sc = np.where(short, sc, sbis), np.where(short, stry, sbis)
            step = np.where(np.abs(sc) > delta, sc, np.where(sbis > 0, delta, -delta))
            going = ~done
            k = i[going]
            xpre[k], fpre[k], xblk[k], fblk[k] = xc[going], fc[going], xb[going], fb[going]
            spre[k], scur[k] = sp[going], sc[going]
            xcur[k] = xc[going] + step[going]
            if k.size:
                fcur[k] = _checked(f(xcur[k], k))
    if open_.any():
        raise RuntimeError(f"Failed to converge after {maxiter} iterations")
    return root


def _few(
    f: BracketFunction, a: list[float], b: list[float], xtol: list[float], rtol: list[float], maxiter: int
) -> np.ndarray:
    """`brentq_many` for a few brackets: each bracket's steps on Python floats, f still once per step."""
    n = len(a)
    xpre, xcur = a, b
    fpre, fcur = (_checked(f(np.array(x), np.arange(n))).tolist() for x in (a, b))
    if any(fp * fc > 0 for fp, fc in zip(fpre, fcur, strict=True)):
        raise ValueError("f(a) and f(b) must have different signs")
    root = [xp if fp == 0 else xc for xp, xc, fp in zip(xpre, xcur, fpre, strict=True)]
    going = [i for i in range(n) if fpre[i] != 0 and fcur[i] != 0]
    xblk, fblk, spre, scur = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    for _ in range(maxiter):
        if not going:
            return np.array(root)
        stepped = []
        for i in going:
            xp, xc, xb, fp, fc, fb, sp, sc = xpre[i], xcur[i], xblk[i], fpre[i], fcur[i], fblk[i], spre[i], scur[i]
            if fp != 0 and fc != 0 and (fp < 0) != (fc < 0):
                xb, fb = xp, fp
                sp = sc = xc - xp
            if abs(fb) < abs(fc):
                xp, xc, xb = xc, xb, xc
                fp, fc, fb = fc, fb, fc
            delta = (xtol[i] + rtol[i] * abs(xc)) / 2
            sbis = (xb - xc) / 2
            if fc == 0 or abs(sbis) < delta:
                root[i] = xc
                continue
            if abs(sp) > delta and abs(fc) < abs(fp):
                try:
                    if xp == xb:
                        stry = -fc * (xc - xp) / (fc - fp)
                    else:
                        dpre, dblk = (fp - fc) / (xp - xc), (fb - fc) / (xb - xc)
                        stry = -fc * (fb * dblk - fp * dpre) / (dblk * dpre * (fb - fp))
                except ZeroDivisionError:  # C's division gives inf or nan there: never a short step
                    stry = math.nan
                bound = abs(sp) if abs(sp) < 3 * abs(sbis) - delta else 3 * abs(sbis) - delta
                sp, sc = (sc, stry) if 2 * abs(stry) < bound else (sbis, sbis)
            else:
                sp = sc = sbis
            xpre[i], fpre[i], xblk[i], fblk[i], spre[i], scur[i] = xc, fc, xb, fb, sp, sc
            xcur[i] = xc + (sc if abs(sc) > delta else (delta if sbis > 0 else -delta))
            stepped.append(i)
        if stepped:
            values = _checked(f(np.array([xcur[i] for i in stepped]), np.array(stepped))).tolist()
            for i, value in zip(stepped, values, strict=True):
                fcur[i] = value
        going = stepped
    if going:
        raise RuntimeError(f"Failed to converge after {maxiter} iterations")
    return np.array(root)


def _checked(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    if np.isnan(values).any():
        raise ValueError("The function value at x is NaN")
    return values

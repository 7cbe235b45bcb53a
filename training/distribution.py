"""The forecast distribution of |move| (in %), one object for evaluation, serving and the backtests.

`MoveDistribution` holds n events' distributions at once (numpy, no scipy), built from the five quantiles
q10..q90 of |move| (`QUANTILE_LEVELS`) and a generalized Pareto tail:

- **Body** (0 <= x <= q90): the CDF F is the monotone cubic (PCHIP, Fritsch-Carlson slopes) through the knots
  (0, 0), (q10, .1), (q25, .25), (q50, .5), (q75, .75), (q90, .9); it reproduces every quantile exactly.
  Equal quantiles are separated by `TIE_GAP` x q90 so that F stays strictly increasing.
- **Tail** (x > q90): P(|X| > x) = 0.1 x GPD_sf((x - q90) / (sigma q90); xi), the survival function of
  `scipy.stats.genpareto(c=xi, scale=sigma)` at the excess measured in units of q90:
  0.1 (1 + xi z / sigma)^(-1/xi), and 0.1 exp(-z / sigma) at xi = 0. Continuous at q90 (0.1 on both sides);
  the body's slope at q90 is the tail's density 0.1 / (sigma q90) where monotonicity allows (then F is C1).
  0 <= xi < 1 (`MAX_TAIL_SHAPE`): mass beyond every finite x and a finite mean.

Payoffs are exact integrals of the exceedance: E[(|X| - k)+] = int_k^inf P(|X| > x) dx and the capped payoff
of a spread of width w, E[min((|X| - k)+, w)] = int_k^(k+w) P(|X| > x) dx. Sides: the sign of the move is
independent of |X|, up with probability p_up (0.5 unless a direction forecast is used).

Shapes follow scipy.stats: parameters have the batch shape (n,); an argument broadcasts against (n,) from
the right (x of shape (m, 1) gives (m, n); for one event, x of shape (m,) gives (m,)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.distribution_batch import batch_parameters, log1p_over, log_gpd_inverse
from ivcrush.training.distribution_floats import LEVELS, TAIL_MASS, parameter_floats, slopes_and_cum_sf_one
from ivcrush.training.hermite import hermite, hermite_inverse, hermite_inverse_rows

if TYPE_CHECKING:
    import pandas as pd

# The tail where none was fitted (baselines, too few exceedances): a prior chosen before any fit, somewhat heavier
# than the fits on the real snapshot's training windows (xi 0 to 0.06, sigma 0.26 to 0.40): cautious for a seller.
DEFAULT_TAIL_SHAPE = 0.1
DEFAULT_TAIL_SCALE = 0.45


def _one_of_floats(quantiles: object, tail_shape: object, tail_scale: object) -> bool:
    """Whether the arguments are one event's quantiles as a list of Python floats and its tail as Python numbers
    (`batch_parameters` makes them Python floats again: the same knots)."""
    return (
        type(quantiles) is list
        and len(quantiles) == len(LEVELS) - 1
        and all(type(value) is float for value in quantiles)
        and type(tail_shape) in (float, int)
        and type(tail_scale) in (float, int)
    )


class MoveDistribution:
    """n distributions of |move| in % (see the module docstring); NaN quantiles give NaN everywhere."""

    def __init__(
        self,
        quantiles: Sequence[float] | np.ndarray,
        tail_shape: float | Sequence[float] | np.ndarray = DEFAULT_TAIL_SHAPE,
        tail_scale: float | Sequence[float] | np.ndarray = DEFAULT_TAIL_SCALE,
    ) -> None:
        self._mean: np.ndarray | None = None
        if _one_of_floats(quantiles, tail_shape, tail_scale):  # `batch_parameters`' one event, without arrays first
            tail = cast(tuple[float, float], (tail_shape, tail_scale))
            valid, knots, shape, scale = parameter_floats(cast(list[float], quantiles), float(tail[0]), float(tail[1]))
            self.valid, self.knots = np.array([valid]), np.array([knots])
            self.tail_shape, self.tail_scale = np.array([shape]), np.array([scale])
            one = slopes_and_cum_sf_one(knots, scale)
            if one is not None:
                self._slopes, self._cum_sf = one
                return
        self.valid, self.knots, self.tail_shape, self.tail_scale = batch_parameters(quantiles, tail_shape, tail_scale)
        n = len(self.knots)
        one = slopes_and_cum_sf_one(self.knots[0].tolist(), float(self.tail_scale[0])) if n == 1 else None
        if one is not None:
            self._slopes, self._cum_sf = one
            return
        self._slopes = self._pchip_slopes()
        h = np.diff(self.knots, axis=1)
        body_cdf_integral = h * ((LEVELS[:-1] + LEVELS[1:]) / 2 + h * (self._slopes[:, :-1] - self._slopes[:, 1:]) / 12)
        # int_0^knot_j P(|X| > x) dx, per knot
        self._cum_sf = np.concatenate([np.zeros((n, 1)), np.cumsum(h - body_cdf_integral, axis=1)], axis=1)

    @staticmethod
    def parameters(
        quantiles: Sequence[float] | np.ndarray,
        tail_shape: float | Sequence[float] | np.ndarray = DEFAULT_TAIL_SHAPE,
        tail_scale: float | Sequence[float] | np.ndarray = DEFAULT_TAIL_SCALE,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The `quantiles`, `tail_shape` and `tail_scale` of the distribution these arguments build, without
        building it (what a forecast reports of it)."""
        valid, knots, shape, scale = batch_parameters(quantiles, tail_shape, tail_scale)
        return np.where(valid[:, None], knots[:, 1:], np.nan), shape, scale

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        tail_shape: float = DEFAULT_TAIL_SHAPE,
        tail_scale: float = DEFAULT_TAIL_SCALE,
    ) -> MoveDistribution:
        """From columns q10..q90 and, where present, per-row `tail_shape` / `tail_scale` (else the given)."""
        shape = frame["tail_shape"].to_numpy(dtype="float64") if "tail_shape" in frame else tail_shape
        scale = frame["tail_scale"].to_numpy(dtype="float64") if "tail_scale" in frame else tail_scale
        return cls(frame[list(QUANTILE_NAMES)].to_numpy(dtype="float64"), shape, scale)

    # -------------------------------------------------------------------------------------------- shape

    def __len__(self) -> int:
        return self.knots.shape[0]

    @property
    def quantiles(self) -> np.ndarray:
        """The (n, 5) quantiles q10..q90 the distribution reproduces (NaN rows where invalid)."""
        return np.where(self.valid[:, None], self.knots[:, 1:], np.nan)

    @property
    def q90(self) -> np.ndarray:
        return self.knots[:, -1]

    def event(self, i: int) -> MoveDistribution:
        """Event i's one-event distribution: the numbers building it alone gives, sliced without recomputing."""
        one = object.__new__(MoveDistribution)
        rows = slice(i, i + 1)
        one.valid, one.knots, one._slopes, one._cum_sf = (
            self.valid[rows],
            self.knots[rows],
            self._slopes[rows],
            self._cum_sf[rows],
        )
        one.tail_shape, one.tail_scale = self.tail_shape[rows], self.tail_scale[rows]
        mean = self._mean
        one._mean = None if mean is None else mean[i] if isinstance(mean, np.ndarray) else mean
        return one

    def take(self, index: int | Sequence[int] | np.ndarray) -> MoveDistribution:
        """The distributions of the events at `index` (a position or positions)."""
        rows = np.atleast_1d(np.arange(len(self))[index])
        return MoveDistribution(self.quantiles[rows], self.tail_shape[rows], self.tail_scale[rows])

    # -------------------------------------------------------------------------------------- probability

    def cdf(self, x: float | np.ndarray) -> np.ndarray:
        """P(|X| <= x)."""
        return 1.0 - self.sf(x)

    def sf(self, x: float | np.ndarray) -> np.ndarray:
        """The exceedance P(|X| > x)."""
        x, row = self._broadcast(x)
        out = np.ones_like(x)
        tail = x > self.q90[row]
        out[tail] = self._tail_sf(x[tail], row[tail])
        body = (x > 0) & ~tail
        if body.any():
            out[body] = 1.0 - self._body_cdf(x[body], row[body])
        return self._finish(out, row, x)

    exceedance = sf

    def ppf(self, p: float | np.ndarray) -> np.ndarray:
        """The quantile function: the x with P(|X| <= x) = p (0 at p = 0, inf at p = 1)."""
        p, row = self._broadcast(p)
        return self._finish(self._ppf(p, row), row, p)

    def ppf_each(self, p: np.ndarray) -> np.ndarray:
        """The quantiles at levels `p` (m,) of every event, (n, m): row i is exactly `ppf(p)` of event i alone (the
        same operations per element, by columns; the Newton iterations stop event by event, as for one event)."""
        levels = np.asarray(p, dtype="float64")
        out = np.full((len(self), len(levels)), np.nan)
        inside = (levels >= 0) & (levels <= 1)
        tail = inside & (levels > LEVELS[-1])
        shapes = self.tail_shape[:, None]
        if len(shapes) > 1 and (shapes == shapes[0]).all():  # one tail shape (a calibration's): one row of z
            shapes = shapes[:1]
        z = log_gpd_inverse(np.log(TAIL_MASS / np.maximum(1.0 - levels[tail], 1e-300))[None, :], shapes)
        out[:, tail] = self.q90[:, None] + (self.tail_scale * self.q90)[:, None] * z  # as `_ppf`, by columns
        out[:, inside & (levels == 1)] = np.inf
        body = (levels >= 0) & (levels <= LEVELS[-1])  # `_body_ppf` of each event alone (`hermite_inverse_rows`)
        j = np.clip(np.searchsorted(LEVELS, levels[body], side="right") - 1, 0, len(LEVELS) - 2)
        lo_x, h = self.knots[:, j], np.ascontiguousarray(self.knots[:, j + 1] - self.knots[:, j])
        m0, m1 = (np.ascontiguousarray(self._slopes[:, k]) for k in (j, j + 1))  # C order, as t: faster steps
        t = hermite_inverse_rows(levels[body], h, LEVELS[j], LEVELS[j + 1], m0, m1)
        out[:, body] = lo_x + t * h
        kept = self.valid[:, None] & ~np.isnan(levels)  # `_finish`, in place
        if not kept.all():
            np.copyto(out, np.nan, where=~kept)
        return out

    def _ppf(self, p: np.ndarray, row: np.ndarray) -> np.ndarray:
        """The quantiles at p (any shape) of the events `row`."""
        out = np.full_like(p, np.nan)
        inside = (p >= 0) & (p <= 1)
        tail = inside & (p > LEVELS[-1])
        excess = TAIL_MASS / np.maximum(1.0 - p[tail], 1e-300)  # 1 / (GPD sf) at the point
        out[tail] = self.q90[row[tail]] + self._scale(row[tail]) * log_gpd_inverse(
            np.log(excess), self.tail_shape[row[tail]]
        )
        out[inside & (p == 1)] = np.inf
        body = inside & ~tail
        if body.any():  # (a tail quantile, as q99, inverts no body)
            out[body] = self._body_ppf(p[body], row[body])
        return out

    def pdf(self, x: float | np.ndarray) -> np.ndarray:
        """The density of |X| (for plots and tests)."""
        x, row = self._broadcast(x)
        out = np.zeros_like(x)
        tail = x > self.q90[row]
        z = (x[tail] - self.q90[row[tail]]) / self._scale(row[tail])
        xi = self.tail_shape[row[tail]]
        out[tail] = TAIL_MASS / self._scale(row[tail]) * np.exp(-(1 + xi) * log1p_over(xi, z))
        body = (x >= 0) & ~tail
        j, t, h = self._segment(x[body], row[body])
        m0, m1 = self._slopes[row[body], j], self._slopes[row[body], j + 1]
        f0, f1 = LEVELS[j], LEVELS[j + 1]
        out[body] = (6 * t * t - 6 * t) * (f0 - f1) / h + (3 * t * t - 4 * t + 1) * m0 + (3 * t * t - 2 * t) * m1
        return self._finish(out, row, x)

    # ------------------------------------------------------------------------------------------ payoffs

    def mean(self) -> np.ndarray:
        """E|X| (computed once: the distribution does not change)."""
        if self._mean is None:
            # `expected_excess(0.0)`: the same floats, its body integral up to 0 being 0 (t = 0 in the first segment)
            n = len(self)
            mean = np.where(self.valid, self._cum_sf[:, -1] + self._tail_excess(self.q90, np.arange(n)), np.nan)
            if n == 1:
                self._mean = mean[0]
            else:
                mean.flags.writeable = False
                self._mean = mean
        return self._mean

    def expected_excess(self, k: float | np.ndarray, width: float | np.ndarray | None = None) -> np.ndarray:
        """E[(|X| - k)+] or, with a width w, E[min((|X| - k)+, w)]: the payout of short options k % away
        (both sides together: |X| beyond k), capped by long options w further out."""
        if width is not None:
            k, width = np.broadcast_arrays(np.asarray(k, dtype="float64"), np.asarray(width, dtype="float64"))
        k, row = self._broadcast(k)
        if width is None:
            return self._finish(self._excess(k, row), row, k)
        upper = k + np.maximum(np.broadcast_to(width, k.shape), 0.0)
        rows = np.broadcast_to(row, k.shape).reshape(-1)
        both = self._excess(np.concatenate([k.reshape(-1), upper.reshape(-1)]), np.concatenate([rows, rows]))
        out = (both[: rows.size] - both[rows.size :]).reshape(k.shape)  # k's and k + w's in one pass
        return self._finish(out, row, k)

    def side_excess(
        self, k: float | np.ndarray, width: float | np.ndarray | None = None, side_probability: float | np.ndarray = 0.5
    ) -> np.ndarray:
        """One side's payout: P(move on that side) x `expected_excess` (put side: 1 - p_up, call side: p_up)."""
        return np.asarray(side_probability, dtype="float64") * self.expected_excess(k, width)

    def structure_payout(
        self,
        put_distance: float | np.ndarray | None,
        call_distance: float | np.ndarray | None,
        put_width: float | np.ndarray | None = None,
        call_width: float | np.ndarray | None = None,
        p_up: float | np.ndarray = 0.5,
    ) -> np.ndarray:
        """Expected payout of short put / call (distances in % of spot, None = no such side), each capped by
        its long wing `width` % further out (None = naked): strangle, credit spread or iron condor."""
        total: np.ndarray | float = 0.0
        if put_distance is not None:
            total = total + self.side_excess(put_distance, put_width, 1.0 - np.asarray(p_up, dtype="float64"))
        if call_distance is not None:
            total = total + self.side_excess(call_distance, call_width, p_up)
        return np.asarray(total, dtype="float64")

    def prob_loss(
        self,
        credit: float | np.ndarray,
        put_distance: float | np.ndarray | None,
        call_distance: float | np.ndarray | None,
        put_width: float | np.ndarray | None = None,
        call_width: float | np.ndarray | None = None,
        p_up: float | np.ndarray = 0.5,
    ) -> np.ndarray:
        """P(payout > credit) of that structure (credit in % of spot): the move passes a short strike by more
        than the credit, on a side whose wing is wider than the credit."""
        p_up = np.asarray(p_up, dtype="float64")
        credit = np.asarray(credit, dtype="float64")
        total: np.ndarray | float = 0.0
        for distance, width, share in ((put_distance, put_width, 1.0 - p_up), (call_distance, call_width, p_up)):
            if distance is None:
                continue
            can_lose = True if width is None else np.asarray(width, dtype="float64") > credit
            total = total + share * np.where(can_lose, self.sf(np.asarray(distance) + credit), 0.0)
        return np.asarray(total, dtype="float64")

    # ----------------------------------------------------------------------------------------- sampling

    def sample(
        self, size: int, rng: np.random.Generator | int | None = None, p_up: float | np.ndarray | None = None
    ) -> np.ndarray:
        """`size` draws per event, shape (size, n): |X|, or the signed move when `p_up` is given."""
        rng = np.random.default_rng(rng)
        draws = self.ppf(rng.random((size, len(self))))
        if p_up is None:
            return draws
        up = rng.random((size, len(self))) < np.asarray(p_up, dtype="float64")
        return np.where(up, draws, -draws)

    # ---------------------------------------------------------------------------------------- internals

    def _scale(self, row: np.ndarray) -> np.ndarray:
        return self.tail_scale[row] * self.q90[row]

    def _broadcast(self, value: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value = np.asarray(value, dtype="float64")
        value, row = np.broadcast_arrays(value, np.arange(len(self)) if len(self) > 1 else np.zeros((), int))
        return value.astype("float64").copy(), row

    def _finish(self, out: np.ndarray, row: np.ndarray, arg: np.ndarray) -> np.ndarray:
        """NaN where the distribution or the argument is missing; a numpy scalar for a scalar result."""
        return np.where(self.valid[row] & ~np.isnan(arg), out, np.nan)[()]

    def _pchip_slopes(self) -> np.ndarray:
        """Fritsch-Carlson slopes of the CDF at the knots; at q90 the tail's density where monotone allows."""
        h = np.diff(self.knots, axis=1)
        secant = np.diff(LEVELS) / h
        w1, w2 = 2 * h[:, 1:] + h[:, :-1], h[:, 1:] + 2 * h[:, :-1]
        interior = (w1 + w2) / (w1 / secant[:, :-1] + w2 / secant[:, 1:])
        first = ((2 * h[:, 0] + h[:, 1]) * secant[:, 0] - h[:, 0] * secant[:, 1]) / (h[:, 0] + h[:, 1])
        first = np.clip(first, 0.0, 3 * secant[:, 0])
        last = np.clip(TAIL_MASS / (self.tail_scale * self.q90), 0.0, 3 * secant[:, -1])
        return np.column_stack([first, interior, last])

    def _segment(self, x: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment j (knot j <= x < knot j+1), position t in [0, 1] in it and its width, per element."""
        knots = self.knots[row]
        j = np.clip((knots[:, 1:-1] <= x[:, None]).sum(axis=1), 0, knots.shape[1] - 2)
        lo = knots[np.arange(len(x)), j]
        h = knots[np.arange(len(x)), j + 1] - lo
        return j, np.clip((x - lo) / h, 0.0, 1.0), h

    def _hermite(self, j: np.ndarray, t: np.ndarray, h: np.ndarray, row: np.ndarray) -> np.ndarray:
        return hermite(t, h, LEVELS[j], LEVELS[j + 1], self._slopes[row, j], self._slopes[row, j + 1])

    def _body_cdf(self, x: np.ndarray, row: np.ndarray) -> np.ndarray:
        j, t, h = self._segment(x, row)
        return self._hermite(j, t, h, row)

    def _body_ppf(self, p: np.ndarray, row: np.ndarray) -> np.ndarray:
        """The x of each element's probability p (in the body) in its event `row`, all iterated together."""
        j = np.clip(np.searchsorted(LEVELS, p, side="right") - 1, 0, len(LEVELS) - 2)
        lo_x = self.knots[row, j]
        h = self.knots[row, j + 1] - lo_x
        t = hermite_inverse(p, h, LEVELS[j], LEVELS[j + 1], self._slopes[row, j], self._slopes[row, j + 1])
        return lo_x + t * h

    def _tail_sf(self, x: np.ndarray, row: np.ndarray) -> np.ndarray:
        z = (x - self.q90[row]) / self._scale(row)
        return TAIL_MASS * np.exp(-log1p_over(self.tail_shape[row], z))

    def _tail_excess(self, x: np.ndarray, row: np.ndarray) -> np.ndarray:
        """int_x^inf P(|X| > u) du for x >= q90: 0.1 s / (1 - xi) (1 + xi z)^(1 - 1/xi)."""
        xi, scale = self.tail_shape[row], self._scale(row)
        z = (x - self.q90[row]) / scale
        return TAIL_MASS * scale / (1 - xi) * np.exp(-(1 - xi) * log1p_over(xi, z))

    def _excess(self, k: np.ndarray, row: np.ndarray) -> np.ndarray:
        """int_k^inf P(|X| > x) dx for every k (P = 1 below 0)."""
        out = np.empty_like(k)
        tail = k >= self.q90[row]
        out[tail] = self._tail_excess(k[tail], row[tail])
        body = ~tail
        kb, rb = np.maximum(k[body], 0.0), row[body]
        j, t, h = self._segment(kb, rb)
        m0, m1 = self._slopes[rb, j], self._slopes[rb, j + 1]
        t2, t3, t4 = t * t, t**3, t**4
        cdf_integral = h * (
            (t4 / 2 - t3 + t) * LEVELS[j]
            + (t4 / 4 - 2 * t3 / 3 + t2 / 2) * h * m0
            + (-t4 / 2 + t3) * LEVELS[j + 1]
            + (t4 / 4 - t3 / 3) * h * m1
        )
        up_to_k = self._cum_sf[rb, j] + t * h - cdf_integral
        below_zero = np.maximum(-k[body], 0.0)  # P(|X| > x) = 1 for x < 0
        out[body] = self._cum_sf[rb, -1] - up_to_k + self._tail_excess(self.q90[rb], rb) + below_zero
        return out

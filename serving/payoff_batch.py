"""`payoff` for n positions at once: the same numbers as `Position` and `evaluate` event by event (the same
float operations in the same order), computed with arrays over all the events of a scan.

P(loss) finds the same break-even brackets as `payoff.prob_loss`'s grid without pricing all of it: an
event's P&L as a function of the size of a move on one side is quasi-concave (short options less their wings:
convex, monotone, or for an iron condor decreasing then increasing in the stock price), so it is not negative
on one interval and loses only at the grid's two ends. The P&L is known at the quadrature nodes (the sizing
needs it), at 0, the strikes and the grid's end; the grid's regular points are priced only between two such
neighbours whose signs differ, or around the largest value when none is profitable. The roots are then found
for all brackets together (`brent.brentq_many`, scipy's steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ivcrush.serving.brent import brentq_many
from ivcrush.serving.one_event import STRESS_LEVEL
from ivcrush.serving.payoff import Economics, Leg, regular_grids
from ivcrush.serving.pricing import option_values
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import SHARES_PER_CONTRACT, quadrature_nodes

SLOTS = 4  # the most legs a position has (an iron condor)
PEAK_MARGIN = 1e-6  # dollars: far beyond the rounding of a P&L, so "credit - costs < -PEAK_MARGIN" is certain


@dataclass(frozen=True)
class Positions:
    """n positions' legs in (n, SLOTS) arrays, each position's legs in its order then padding (`present`
    False); spot, the volatility left at the exit and the round-trip cost per position (n,)."""

    present: np.ndarray
    call: np.ndarray
    short: np.ndarray
    strike: np.ndarray
    premium: np.ndarray
    spot: np.ndarray
    exit_sigma: np.ndarray
    cost: np.ndarray

    @classmethod
    def of(
        cls, legs: Sequence[tuple[Leg, ...]], spot: Sequence[float], exit_sigma: Sequence[float], cost: np.ndarray
    ) -> Positions:
        n = len(legs)
        present, call, short = (np.zeros((n, SLOTS), dtype=bool) for _ in range(3))
        strike, premium = np.zeros((n, SLOTS)), np.zeros((n, SLOTS))
        for i, position in enumerate(legs):
            for j, leg in enumerate(position):
                present[i, j], call[i, j], short[i, j] = True, leg.kind == "call", leg.short
                strike[i, j], premium[i, j] = leg.strike, leg.premium
        spots, sigmas = (np.asarray(v, dtype="float64") for v in (spot, exit_sigma))
        return cls(present, call, short, strike, premium, spots, sigmas, cost)

    def __len__(self) -> int:
        return len(self.spot)

    @cached_property
    def credit(self) -> np.ndarray:
        """Net premium per share (`Position.credit`: leg by leg from 0)."""
        total = np.zeros(len(self))
        for j in range(SLOTS):
            total = total + self.premium[:, j] * self.sign[:, j]
        return total

    @cached_property
    def sign(self) -> np.ndarray:
        """+1 for a short leg (its value is owed at the exit), -1 for a long one, 0 for padding."""
        return np.where(self.present, np.where(self.short, 1.0, -1.0), 0.0)

    def leg_strike(self, call: bool, short: bool) -> np.ndarray:
        """Each position's strike of that leg (NaN where it has none)."""
        chosen = self.present & (self.call == call) & (self.short == short)
        return np.where(chosen.any(axis=1), self.strike[np.arange(len(self)), chosen.argmax(axis=1)], np.nan)

    @cached_property
    def distances(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`Position.distances` of every position, NaN for None: put and call distances, their wings' widths."""
        found = []
        for call, side in ((False, -1.0), (True, 1.0)):
            short, long = self.leg_strike(call, True), self.leg_strike(call, False)
            found += [100 * side * (short / self.spot - 1), 100 * np.abs(short - long) / self.spot]
        put_distance, put_width, call_distance, call_width = found
        return put_distance, call_distance, put_width, call_width

    def exit_values(
        self,
        moves: np.ndarray,
        rows: np.ndarray | None = None,
        *,
        intrinsic_out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per share, what buying positions `rows` (all by default) back costs after the signed moves (rows, m),
        at the exit's volatility (`Position.exit_value`); `intrinsic_out` (zeros of the moves' shape), where given,
        receives the values at no volatility left too (as the intrinsic values are summed where none is left)."""
        rows = np.arange(len(self)) if rows is None else rows
        # in place, the same operations as new arrays: max(spot x (1 + moves / 100), 0)
        prices = moves / 100
        np.add(1, prices, out=prices)
        np.multiply(self.spot[rows][:, None], prices, out=prices)
        np.maximum(prices, 0.0, out=prices)
        present, strike = self.present[rows], self.strike[rows]
        timed = self.exit_sigma[rows] > 0
        priced: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (position, slot, values) at Black-Scholes
        if timed.any():
            at, slot = np.nonzero(present & timed[:, None])
            for call in (False, True):
                chosen = self.call[rows[at], slot] == call
                if chosen.any():
                    a, s = at[chosen], slot[chosen]
                    sigma = self.exit_sigma[rows[a]][:, None]
                    priced.append((a, s, option_values(prices[a], strike[a, s][:, None], sigma, call=call)))
        # Intrinsic values first: max(S - K, 0) for a call, max(K - S, 0) = max(-(S - K), 0) for a put (prices
        # are never negative here, and negating a difference is exact), Black-Scholes where volatility is left
        kind = np.where(self.call[rows], 1.0, -1.0)
        sign = self.sign[rows]
        total, value = np.zeros(prices.shape), np.empty(prices.shape)
        for j in np.flatnonzero(present.any(axis=0)):  # leg by leg, in order, as Position.exit_value sums them
            np.subtract(prices, strike[:, j, None], out=value)
            np.multiply(kind[:, j, None], value, out=value)
            np.maximum(value, 0.0, out=value)
            if intrinsic_out is not None:  # x 1, x -1 or x 0 (padding: + 0.0 leaves a sum as it is), as below
                np.add(intrinsic_out, value * sign[:, j, None], out=intrinsic_out)
            for a, s, values in priced:
                value[a[s == j]] = values[s == j]
            np.multiply(value, sign[:, j, None], out=value)  # x 1 or x -1: exactly the value or its negation
            np.add(total, value, out=total)
        return total

    def pnl(self, exit_values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Dollars per contract given the exit values (rows, m), costs included (`Position.pnl`)."""
        rows = np.arange(len(self)) if rows is None else rows
        return SHARES_PER_CONTRACT * (self.credit[rows][:, None] - exit_values) - self.cost[rows][:, None]

    @cached_property
    def naked(self) -> np.ndarray:
        put_distance, call_distance, put_width, call_width = self.distances
        return (~np.isnan(put_distance) & np.isnan(put_width)) | (~np.isnan(call_distance) & np.isnan(call_width))

    def max_loss(self) -> np.ndarray:
        """`Position.max_loss` (NaN for naked positions)."""
        _, _, put_width, call_width = self.distances
        widest = np.fmax(np.fmax(put_width, call_width), 0.0) * self.spot / 100
        loss = np.maximum(SHARES_PER_CONTRACT * (widest - self.credit) + self.cost, 0.0)
        return np.where(self.naked, np.nan, loss)


@dataclass(frozen=True)
class EconomicsBatch:
    """Each position's `Economics`, and the signed quadrature moves' weights (n, 2m) its sizing uses."""

    economics: list[Economics]
    weights: np.ndarray


def evaluate_many(positions: Positions, distribution: MoveDistribution, p_up: np.ndarray) -> EconomicsBatch:
    """`payoff.evaluate` of position i over event i's distribution, for every i."""
    put_distance, call_distance, put_width, call_width = positions.distances
    uppers = (put_distance + np.maximum(put_width, 0.0), call_distance + np.maximum(call_width, 0.0))
    excess = distribution.expected_excess(np.nan_to_num(np.stack([put_distance, uppers[0], call_distance, uppers[1]])))
    put = np.where(np.isnan(put_width), excess[0], excess[0] - excess[1])
    call = np.where(np.isnan(call_width), excess[2], excess[2] - excess[3])
    payout = 0.0 + np.where(np.isnan(put_distance), 0.0, (1.0 - p_up) * put)
    payout = payout + np.where(np.isnan(call_distance), 0.0, p_up * call)
    intrinsic = positions.spot * payout

    nodes, weights = quadrature_nodes(distribution)
    m = nodes.shape[1]
    moves = np.concatenate([-nodes, nodes], axis=1)
    signed_weights = np.concatenate([(1 - p_up)[:, None] * weights, p_up[:, None] * weights], axis=1)
    stops, extra = _grid_ends(positions, nodes, distribution.ppf(STRESS_LEVEL))
    points = np.concatenate([moves, -extra, extra], axis=1)
    timed = np.flatnonzero(positions.exit_sigma > 0)
    intrinsic_values = np.zeros(points.shape)  # the exit values with no time value left, summed alongside
    exit_values = positions.exit_values(points, intrinsic_out=intrinsic_values if timed.size else None)
    pnl = positions.pnl(exit_values)
    node_pnl = pnl[:, : 2 * m]
    time_value = np.zeros(len(positions))
    if timed.size:
        left = exit_values[timed, : 2 * m] - intrinsic_values[timed, : 2 * m]
        time_value[timed] = SHARES_PER_CONTRACT * np.sum(signed_weights[timed] * left, axis=1)
    credit = SHARES_PER_CONTRACT * positions.credit
    gross = credit - intrinsic - time_value
    k = extra.shape[1]  # the last extra point is q99: the stress loss
    down, up = pnl[:, 2 * m : 2 * m + k], pnl[:, 2 * m + k :]
    stress = -np.minimum(down[:, -1], up[:, -1])
    points = np.concatenate([nodes, extra[:, :-1]], axis=1)
    sides = (
        np.concatenate([node_pnl[:, :m], down[:, :-1]], axis=1),
        np.concatenate([node_pnl[:, m:], up[:, :-1]], axis=1),
    )
    losses = _prob_loss(positions, distribution, p_up, points, sides, stops)
    max_loss = positions.max_loss()
    # as Python floats at once (the same floats: g - cost and max(s, 0.0) as on numpy's scalars)
    arrays = (credit, intrinsic, time_value, positions.cost, gross, gross - positions.cost, stress, max_loss)
    values = zip(*(array.tolist() for array in arrays), losses, list(node_pnl), strict=True)
    economics = [
        Economics(
            credit=c,
            expected_intrinsic=i,
            expected_time_value=t,
            cost=cost,
            gross_ev=g,
            ev=ev,
            prob_loss=loss,
            stress_loss=max(s, 0.0),
            max_loss=None if math.isnan(worst) else worst,
            node_pnl=pnl,
        )
        for c, i, t, cost, g, ev, s, worst, loss, pnl in values
    ]
    return EconomicsBatch(economics, signed_weights)


def _grid_ends(positions: Positions, nodes: np.ndarray, q99: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each position's end of grid (`payoff.loss_grid`), and the |moves| whose P&L is needed besides the nodes:
    0, the strikes' distances (0 for padding), the grid's end, and q99 last (the stress loss)."""
    distances = np.where(positions.present, 100 * np.abs(positions.strike / positions.spot[:, None] - 1), 0.0)
    farthest = np.where(positions.present, distances, -np.inf).max(axis=1)
    reach = 2 * (farthest + 100 * np.abs(positions.credit) / positions.spot) + 1.0
    top = nodes.max(axis=1)
    stops = np.where(reach > top, reach, top)
    return stops, np.column_stack([np.zeros(len(positions)), distances, stops, q99])


def _prob_loss(
    positions: Positions,
    distribution: MoveDistribution,
    p_up: np.ndarray,
    points: np.ndarray,
    sides: tuple[np.ndarray, np.ndarray],
    stops: np.ndarray,
) -> list[float]:
    """`payoff.prob_loss` of every position: its grid's brackets where the P&L changes sign (see the module
    docstring), their roots, and the distribution's mass between them."""
    # The exit value is never negative (short options are nearer the money than their wings), so the P&L never
    # exceeds credit - costs: where that is negative every move loses, and no profitable peak can hide.
    may_profit = SHARES_PER_CONTRACT * positions.credit - positions.cost >= -PEAK_MARGIN
    order = np.argsort(points, axis=1, kind="stable")
    order += np.arange(0, points.size, points.shape[1])[:, None]  # flat indices: `take` gathers them in one pass
    xs = points.take(order)
    starts_losing, found = [], []
    for side, pnl in enumerate(sides):
        values = pnl.take(order)
        losing = values < 0
        starts_losing.append(losing[:, 0])
        best = values.max(axis=1)
        at_best = (values == best[:, None]) & ((best < 0) & may_profit)[:, None]
        flagged = (losing[:, 1:] != losing[:, :-1]) | at_best[:, 1:] | at_best[:, :-1]
        share = p_up if side else 1.0 - p_up
        flagged &= (share > 0)[:, None]
        found.append(_brackets(positions, side, stops, xs, values, flagged))
    event = np.concatenate([f[0] for f in found])
    sign = np.concatenate([np.full(len(f[0]), -1.0 if side == 0 else 1.0) for side, f in enumerate(found)])
    lo, hi, at_lo, at_hi = (np.concatenate([f[column] for f in found]) for column in range(1, 5))

    def side_pnl(x: np.ndarray, which: np.ndarray) -> np.ndarray:
        rows = event[which]
        return positions.pnl(positions.exit_values((sign[which] * x)[:, None], rows), rows)[:, 0]

    # the P&L at the brackets' ends is known: the same floats side_pnl gives there (elementwise the same operations)
    roots = brentq_many(side_pnl, lo, hi, xtol=1e-10, ends=(at_lo, at_hi)) if len(event) else np.zeros(0)
    return loss_mass(distribution, p_up, np.stack(starts_losing), (sign > 0).astype(np.intp), event, roots)


def loss_mass(
    distribution: MoveDistribution,
    p_up: np.ndarray,
    starts_losing: np.ndarray,
    side: np.ndarray,
    event: np.ndarray,
    roots: np.ndarray,
) -> list[float]:
    """Each event's P(loss): on each side (`starts_losing` (2, n)) the edges where the P&L changes sign (0 where
    it loses from the start, the roots of `side`, `event` in grid order, inf closing an open interval), the
    distribution's mass between pairs of them, summed side by side and pair by pair from 0 (the sums of
    `payoff.prob_loss`, in its order; an absent pair adds 0.0, which leaves a sum unchanged)."""
    n = len(p_up)
    first = starts_losing.astype(np.intp)
    counts = np.zeros((2, n), dtype=np.intp)
    np.add.at(counts, (side, event), 1)
    group = side * n + event  # roots come side by side, event by event, each event's in grid order
    rank = np.arange(len(group)) - np.searchsorted(group, group)
    lengths = first + counts
    closed = lengths + lengths % 2  # with inf closing an open interval
    width = max(int(closed.max(initial=0)), 1)
    table = np.zeros((2, width, n))  # a side's edges down its column, from 0 (a first edge 0.0 is already there)
    table[side, first[side, event] + rank, event] = roots
    odd = np.nonzero(lengths % 2)
    table[odd[0], lengths[odd], odd[1]] = np.inf
    cdf = distribution.cdf(table)
    shares = np.stack([1.0 - p_up, p_up])
    total = np.zeros(n)
    for s in (0, 1):
        for pair in range(width // 2):
            present = (2 * pair + 1 < closed[s]) & (shares[s] > 0)
            mass = shares[s] * (cdf[s, 2 * pair + 1] - cdf[s, 2 * pair])
            total = total + np.where(present, mass, 0.0)
    return total.tolist()


def _brackets(
    positions: Positions, side: int, stops: np.ndarray, xs: np.ndarray, values: np.ndarray, flagged: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(event, lo, hi, P&L at lo, P&L at hi) of the grid's neighbours on one side where the P&L changes sign, in
    grid order per event: the flagged intervals between the known points (`xs`, their P&L `values`), with the
    regular grid points inside them priced."""
    event, k = np.nonzero(flagged)
    left, right = xs[event, k], xs[event, k + 1]
    regular = regular_grids(stops[event])  # each interval's event's grid
    first = (regular <= left[:, None]).sum(axis=1)
    count = np.maximum((regular < right[:, None]).sum(axis=1) - first, 0)
    interval = np.repeat(np.arange(len(event)), count)
    offset = np.arange(interval.size) - np.repeat(np.cumsum(count) - count, count)
    inside = regular[interval, first[interval] + offset]
    sign = -1.0 if side == 0 else 1.0
    rows = event[interval]
    priced = positions.pnl(positions.exit_values((sign * inside)[:, None], rows), rows)[:, 0]
    # each interval's points in order: its left end, the priced points inside, its right end
    ids = np.concatenate([np.arange(len(event)), interval, np.arange(len(event))])
    rank = np.concatenate([np.zeros(len(event)), 1 + offset, np.full(len(event), np.inf)])
    x = np.concatenate([left, inside, right])
    pnl = np.concatenate([values[event, k], priced, values[event, k + 1]])
    ordered = np.lexsort((rank, ids))
    ids, x, pnl = ids[ordered], x[ordered], pnl[ordered]
    losing = pnl < 0
    flips = np.flatnonzero((ids[1:] == ids[:-1]) & (losing[1:] != losing[:-1]))
    return event[ids[flips]], x[flips], x[flips + 1], pnl[flips], pnl[flips + 1]

"""`payoff` for n positions at once: the same numbers as `Position` and `evaluate` event by event (the same
float operations in the same order), computed with arrays over all the events of a scan.

P(loss) finds the same break-even brackets as `payoff.prob_loss`'s grid without pricing all of it: an
event's P&L as a function of the size of a move on one side is quasi-concave (short options less their wings:
convex, monotone, or for an iron condor decreasing then increasing in the stock price), so it is not negative
on one interval and loses only at the grid's two ends. The P&L is known at the quadrature nodes (the sizing
needs it), at 0, the strikes and the grid's end; the grid's regular points are priced only between two such
neighbours whose signs differ, or around the largest value when none is profitable. The roots are then found
for all brackets together (`brent.brentq_many`, scipy's steps).

The exit values sort the positions by the layout of their legs (`Positions.layout`), so that each slot of a
run of positions holds one kind of leg: the legs with volatility left are priced in one Black-Scholes call per
kind, the others valued on slices of the prices, and every leg is summed on its run's slice, in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from ivcrush.serving.brent import brentq_many
from ivcrush.serving.one_event import STRESS_LEVEL
from ivcrush.serving.payoff import Economics, Leg, regular_grids
from ivcrush.serving.pricing import option_values
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import SHARES_PER_CONTRACT, quadrature_nodes

SLOTS = 4  # the most legs a position has (an iron condor)
_SLOT_SHIFTS = 4 * np.arange(SLOTS)  # each slot's 4 bits of `Positions.layout`
TIMED = 1 << 4 * SLOTS  # `Positions.layout`'s bit of a position with volatility left at the exit
PEAK_MARGIN = 1e-6  # dollars: far beyond the rounding of a P&L, so "credit - costs < -PEAK_MARGIN" is certain


Step = tuple[bool, bool, bool, int, int]  # a leg of a run: short, call, Black-Scholes, slot, first row in its group
Run = tuple[int, int, list[Step], int]  # sorted rows start:stop, their legs in order, their layout code


def _plan(codes: np.ndarray) -> tuple[list[Run], list[list[tuple[int, int, int]]]]:
    """The runs of equal `Positions.layout` codes (sorted), each with its legs in order, and the legs priced by
    Black-Scholes of each kind (puts, calls) as (start, stop, slot), in the order of their rows."""
    stops = [*((codes[1:] != codes[:-1]).nonzero()[0] + 1).tolist(), len(codes)] if len(codes) else []
    runs: list[Run] = []
    priced: list[list[tuple[int, int, int]]] = [[], []]
    sizes = [0, 0]
    start = 0
    for stop, code in zip(stops, codes[[stop - 1 for stop in stops]].tolist(), strict=True):
        legs = []
        for short, call, black_scholes, slot in _legs_of(code):
            legs.append((short, call, black_scholes, slot, sizes[call]))
            if black_scholes:
                priced[call].append((start, stop, slot))
                sizes[call] += stop - start
        runs.append((start, stop, legs, code))
        start = stop
    return runs, priced


@cache
def _legs_of(code: int) -> tuple[tuple[bool, bool, bool, int], ...]:
    """The legs (short, call, Black-Scholes, slot) of a `Positions.layout` code, in order."""
    bits = [code >> 4 * slot for slot in range(SLOTS)]
    return tuple((bool(b & 4), bool(b & 2), bool(b & 8), slot) for slot, b in enumerate(bits) if b & 1)


def _intrinsic(spots: np.ndarray, strikes: np.ndarray, *, call: bool, out: np.ndarray) -> np.ndarray:
    """max(S - K, 0) for a call, max(K - S, 0) for a put (a spot S is at least 0 here)."""
    value = np.subtract(spots, strikes, out=out) if call else np.subtract(strikes, spots, out=out)
    return np.maximum(value, 0.0, out=value)


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

    @cached_property
    def layout(self) -> np.ndarray:
        """Each position's code: per slot 4 bits (present, call, short, priced by Black-Scholes: volatility left
        and a positive strike), and TIMED where volatility is left; positions of one code are priced together."""
        timed = self.exit_sigma > 0
        priced = self.present & timed[:, None] & (self.strike > 0)
        bits = self.present | self.call << 1 | self.short << 2 | priced << 3
        return (bits.astype(np.int64) << _SLOT_SHIFTS).sum(axis=1) | timed.astype(np.int64) * TIMED

    def exit_values(self, moves: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Per share, what buying positions `rows` (all by default) back costs after the signed moves (rows, m),
        at the exit's volatility (`Position.exit_value`)."""
        return self._exit(moves, np.arange(len(self)) if rows is None else rows, 0)[0]

    def exit_and_time_left(self, moves: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`exit_values` of all positions, the positions with volatility left at the exit, and theirs less the
        values with none left (the intrinsic values, summed alike) at the first `columns` moves."""
        return self._exit(moves, np.arange(len(self)), columns)

    def _exit(self, moves: np.ndarray, rows: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The exit values (`Position.exit_value`: each leg's value, + for a short leg and - for a long one, summed
        from 0 leg by leg in order; the same float operations). The positions are sorted by `layout`: each slot
        of a run of one code holds one kind of leg, valued (intrinsic) and summed on slices that stay in the
        cache; the legs priced by Black-Scholes are priced first, one call per kind over their rows of prices."""
        codes = self.layout[rows]
        order = codes.argsort(kind="stable")
        runs, priced = _plan(codes[order])
        ranked = rows[order]
        # in place, the same operations as new arrays: max(spot x (1 + moves / 100), 0), in the sorted order
        prices = moves.take(order, axis=0)
        np.divide(prices, 100, out=prices)
        np.add(1, prices, out=prices)
        np.multiply(self.spot[ranked][:, None], prices, out=prices)
        np.maximum(prices, 0.0, out=prices)
        strike, sigma = self.strike[ranked], self.exit_sigma[ranked]
        values = []  # the Black-Scholes values (legs, m) of puts, then calls
        for kind, ranges in enumerate(priced):
            if not ranges:
                values.append(prices[:0])
                continue
            at = np.concatenate([np.arange(start, stop) for start, stop, _ in ranges])
            strikes = np.concatenate([strike[start:stop, slot] for start, stop, slot in ranges])
            values.append(option_values(prices.take(at, axis=0), strikes[:, None], sigma[at, None], call=kind == 1))
        timed = next((start for start, _, _, code in runs if code & TIMED), len(rows))  # TIMED sorts last
        total, scratch = np.empty(prices.shape), np.empty(prices.shape)
        left = np.empty((len(rows) - timed, columns))  # the intrinsic values' sums, then the time left
        for start, stop, legs, code in runs:
            summed = bool(columns and code & TIMED)  # the intrinsic values summed too (for the time left)
            exits, intrinsics = total[start:stop], left[start - timed : stop - timed] if summed else left[:0]
            if not legs:
                exits[...], intrinsics[...] = 0.0, 0.0
            for leg, (short, call, black_scholes, slot, row) in enumerate(legs):
                add = np.add if short else np.subtract  # the first from 0
                if summed or not black_scholes:  # the values themselves, or the first `columns` for the time left
                    width = columns if black_scholes else prices.shape[1]
                    spots, out = prices[start:stop, :width], scratch[start:stop, :width]
                    intrinsic = _intrinsic(spots, strike[start:stop, slot, None], call=call, out=out)
                    if summed:
                        add(intrinsics if leg else 0.0, intrinsic[:, :columns], out=intrinsics)
                value = values[call][row : row + stop - start] if black_scholes else intrinsic
                add(exits if leg else 0.0, value, out=exits)
        if columns:
            np.subtract(total[timed:, :columns], left, out=left)
        exit_values = np.empty(prices.shape)
        exit_values[order] = total
        return exit_values, ranked[timed:], left

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
    exit_values, timed, left = positions.exit_and_time_left(points, 2 * m)
    pnl = positions.pnl(exit_values)
    node_pnl = pnl[:, : 2 * m]
    time_value = np.zeros(len(positions))
    if timed.size:
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

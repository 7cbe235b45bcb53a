"""`payoff.evaluate` and the log-optimal size for one position, as a single request needs them: the same float
operations in the same order, so the same numbers, with fewer numpy calls and without scipy.optimize (slow to
import; `brent`'s root finders take scipy's steps).

- The distribution at a few points (exceedance integrals, CDF, q99) by its `one_event.OneEvent`: Python floats.
- The expected intrinsic payout: every side's exceedance integrals in one call.
- P(loss): the P&L on `payoff.loss_grid` (both sides in one pricing), every break-even bracket's root in one
  `brentq_few` (each step prices all open brackets at once; the brackets' ends are priced already), the
  distribution's CDF at all edges in one call.
- The Kelly root: the slope summed over 1-d arrays, the root by `brentq_one` (scipy's steps on Python floats).
"""

from __future__ import annotations

import math

import numpy as np

from ivcrush.serving.brent import SCIPY_RTOL, brentq_few, brentq_one
from ivcrush.serving.one_event import STRESS_LEVEL, one_event
from ivcrush.serving.payoff import Economics, Position, loss_grid
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import SHARES_PER_CONTRACT, quantile_quadrature, signed_nodes

# what np.sum, np.min and np.max of a 1-d array call, without their Python wrappers
_SUM, _MIN, _MAX = np.add.reduce, np.minimum.reduce, np.maximum.reduce
_MULTIPLY, _ADD, _DIVIDE = np.multiply, np.add, np.divide


def stress_quantile(distribution: MoveDistribution) -> float:
    """The one-event distribution's q99 (computed once per distribution object)."""
    event = one_event(distribution)
    return float(distribution.ppf(STRESS_LEVEL)) if event is None else event.q99


def intrinsic_payout(position: Position, distribution: MoveDistribution, p_up: float) -> float:
    """`distribution.structure_payout` of the position's sides (per unit of spot, as a float)."""
    sides = [(d, w, share) for d, w, share in _sides(position, p_up) if d is not None]
    ks: list[float] = []
    for distance, width, _ in sides:
        ks += [distance] if width is None else [distance, distance + max(width, 0.0)]
    event = one_event(distribution)
    excess = distribution.expected_excess(np.array(ks)).tolist() if event is None else event.expected_excess(ks)
    total = 0.0
    at = 0
    for _, width, share in sides:
        value = excess[at] if width is None else excess[at] - excess[at + 1]
        at += 1 if width is None else 2
        total = total + share * value
    return total


def _sides(position: Position, p_up: float) -> list[tuple[float | None, float | None, float]]:
    put_distance, call_distance, put_width, call_width = position.distances()
    return [(put_distance, put_width, 1.0 - p_up), (call_distance, call_width, p_up)]


def evaluate_one(position: Position, distribution: MoveDistribution, p_up: float) -> Economics:
    """`payoff.evaluate(position, distribution, p_up)`: the same `Economics`. The position is priced once at
    the exit's volatility for every move it needs (P(loss)'s grid on both sides, which holds the quadrature's
    nodes, and the stress moves), and once more at the nodes without volatility (the time value)."""
    intrinsic = position.spot * intrinsic_payout(position, distribution, p_up)
    nodes, _ = quantile_quadrature(distribution)
    grid = loss_grid(distribution, position)
    q99 = stress_quantile(distribution)
    g = len(grid)
    # with time value left the grid's Black-Scholes values are the nodes' where it holds them (a price is a
    # function of its move alone): not priced again; without, intrinsic values cost less than finding them
    at = _among(grid, nodes) if position.exit_sigma > 0 else None
    if at is not None:
        every = np.concatenate([-grid, grid, [-q99, q99]])
        signed: np.ndarray | slice = np.concatenate([at, at + g])  # `signed_nodes`' moves (-nodes, nodes)
    else:
        every = np.concatenate([-grid, grid, [-q99, q99], -nodes, nodes])
        signed = slice(2 * g + 2, None)
    values = position.exit_value(every)
    pnl = SHARES_PER_CONTRACT * (position.credit - values) - position.cost  # = position.pnl of those moves
    exit_value, node_pnl = values[signed], pnl[signed]
    time_value = 0.0
    if position.exit_sigma > 0:
        _, weights = signed_nodes(distribution, p_up)
        left = exit_value - position.exit_value(np.concatenate([-nodes, nodes]), sigma=0.0)
        time_value = SHARES_PER_CONTRACT * float(_SUM(weights * left))
    credit = SHARES_PER_CONTRACT * position.credit
    gross = credit - intrinsic - time_value
    stress = -float(_MIN(pnl[2 * g : 2 * g + 2]))
    return Economics(
        credit=credit,
        expected_intrinsic=intrinsic,
        expected_time_value=time_value,
        cost=position.cost,
        gross_ev=gross,
        ev=gross - position.cost,
        prob_loss=prob_loss_one(position, distribution, p_up, grid, pnl[: 2 * g]),
        stress_loss=max(stress, 0.0),
        max_loss=position.max_loss,
        node_pnl=node_pnl,
    )


def _among(grid: np.ndarray, nodes: np.ndarray) -> np.ndarray | None:
    """Where each node sits in `loss_grid`'s sorted distinct values (which hold every node but a NaN); None where
    some node is not found so."""
    at = np.searchsorted(grid, nodes)
    return at if (grid.take(at, mode="clip") == nodes).all() else None


def prob_loss_one(
    position: Position,
    distribution: MoveDistribution,
    p_up: float,
    grid: np.ndarray | None = None,
    both: np.ndarray | None = None,
) -> float:
    """`payoff.prob_loss`: the same brackets, roots and mass (`grid`, `both`: `payoff.loss_grid` and the P&L
    at its moves down then up, where already priced)."""
    if grid is None or both is None:
        grid = loss_grid(distribution, position)
        both = position.pnl(np.concatenate([-grid, grid]))
    shares = (1.0 - p_up, p_up)
    g = len(grid)
    losing = both < 0  # the down side's moves, then the up side's
    edges: list[list[float]] = [[0.0] if shares[side] > 0 and losing[side * g] else [] for side in (0, 1)]
    owner: list[int] = []
    lo: list[float] = []
    hi: list[float] = []
    at_lo: list[float] = []
    at_hi: list[float] = []
    for i in (losing[1:] != losing[:-1]).nonzero()[0].tolist():  # brackets [i, i + 1] of each side, in order
        side = int(i >= g)
        if i == g - 1 or shares[side] <= 0:  # the pair across the two sides; a side of no weight has no break-evens
            continue
        owner.append(side)
        lo.append(grid.item(i - side * g))
        hi.append(grid.item(i + 1 - side * g))
        at_lo.append(both.item(i))  # the ends: priced already
        at_hi.append(both.item(i + 1))
    if owner:
        sign = [1.0 if side else -1.0 for side in owner]

        def side_pnl(x: list[float], which: list[int]) -> list[float]:
            return position.pnl_of([sign[i] * move for i, move in zip(which, x, strict=True)])

        n = len(owner)
        roots = brentq_few(side_pnl, lo, hi, (at_lo, at_hi), [1e-10] * n, [SCIPY_RTOL] * n)
        for side, root in zip(owner, roots, strict=True):
            edges[side].append(root)
    for side_edges in edges:
        if len(side_edges) % 2:
            side_edges.append(math.inf)
    event = one_event(distribution)
    points = edges[0] + edges[1]
    cdf = distribution.cdf(np.array(points)).tolist() if event is None else event.cdf(points)
    total = 0.0
    at = 0
    for side, side_edges in enumerate(edges):
        column, at = cdf[at : at + len(side_edges)], at + len(side_edges)
        if shares[side] <= 0:
            continue
        for start, end in zip(column[::2], column[1::2], strict=True):
            total += shares[side] * (end - start)
    return total


def kelly_one(pnl: np.ndarray, weights: np.ndarray, equity: float) -> float:
    """`economics.log_optimal_contracts(pnl, weights, equity)`: the same contracts."""
    weighted = weights * pnl
    if float(_SUM(weighted)) <= 0:
        return 0.0
    worst = float(_MAX(-pnl[weights > 0]))
    if worst <= 0:
        return math.inf
    ruin = equity / worst
    wealth = np.empty_like(pnl)  # equity + c pnl, reused at every c: the same floats, no array made per step

    def slope(c: float) -> float:  # the outputs passed by position: the same calls, fewer keywords to parse
        _MULTIPLY(c, pnl, wealth)
        _ADD(equity, wealth, wealth)
        return float(_SUM(_DIVIDE(weighted, wealth, wealth)))  # _SUM: ndarray.sum's (pairwise) float

    upper = ruin * (1 - 1e-12)
    at_upper = slope(upper)
    if at_upper >= 0:
        return upper
    return brentq_one(slope, 0.0, upper, xtol=1e-12 * ruin, rtol=1e-12, ends=(slope(0.0), at_upper))

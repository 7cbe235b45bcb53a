"""A short-premium position's value at the exit (the reaction day's close) and its economics over one
event's `MoveDistribution`.

At the exit the stock has moved by X % (|X| from the distribution, up with probability p_up) and every leg is
bought back at its Black-Scholes value with the volatility left until expiration (none when the options
expire at the exit: intrinsic value). The expected intrinsic payout is the distribution's exact payoff
integral; the time value left and the log-utility sizing use quadrature over its quantile function;
P(loss) integrates the distribution between the break-even moves found on each side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ivcrush.serving.one_event import STRESS_LEVEL
from ivcrush.serving.pricing import black_scholes_legs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import SHARES_PER_CONTRACT, quantile_quadrature, signed_nodes

GRID_POINTS = 600
FEW_MOVES = 8  # up to this many moves a P&L without volatility is computed on Python floats


@dataclass(frozen=True)
class Leg:
    kind: str  # "put" or "call"
    strike: float
    short: bool
    premium: float  # per share at entry (the mid)
    bid_ask: float  # per share


@dataclass(frozen=True)
class Position:
    """Legs of one contract each on a stock at `spot`, valued at the exit with `exit_sigma` left; `cost` is the
    round trip in dollars per contract."""

    legs: tuple[Leg, ...]
    spot: float
    exit_sigma: float
    cost: float

    @cached_property
    def credit(self) -> float:
        """Net premium received per share."""
        return sum(leg.premium if leg.short else -leg.premium for leg in self.legs)

    def distances(self) -> tuple[float | None, float | None, float | None, float | None]:
        """Short put and call distances from spot (out of the money: positive) and their wings' widths, in %
        of spot (None: no such leg)."""
        return self._distances

    @cached_property
    def _distances(self) -> tuple[float | None, float | None, float | None, float | None]:
        first: dict[tuple[str, bool], Leg] = {}  # each (kind, short)'s first leg, in one pass
        for leg in self.legs:
            first.setdefault((leg.kind, leg.short), leg)
        found: list[float | None] = []
        for kind, side in (("put", -1.0), ("call", 1.0)):
            short, long = first.get((kind, True)), first.get((kind, False))
            distance = None if short is None else 100 * side * (short.strike / self.spot - 1)
            width = None if short is None or long is None else 100 * abs(short.strike - long.strike) / self.spot
            found += [distance, width]
        put_distance, put_width, call_distance, call_width = found
        return put_distance, call_distance, put_width, call_width

    @cached_property
    def naked(self) -> bool:
        put_distance, call_distance, put_width, call_width = self.distances()
        return (put_distance is not None and put_width is None) or (call_distance is not None and call_width is None)

    @cached_property
    def _strikes(self) -> tuple[np.ndarray, np.ndarray, tuple[bool, ...]]:
        """The legs' strikes, which are calls, which are short (in leg order)."""
        strikes = np.array([leg.strike for leg in self.legs], dtype="float64")
        calls = np.array([leg.kind == "call" for leg in self.legs])
        return strikes, calls, tuple(leg.short for leg in self.legs)

    def exit_value(self, moves_pct: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """Per share, what buying the position back costs after a signed move (`sigma` None: the exit's)."""
        prices = np.maximum(self.spot * (1 + np.asarray(moves_pct, dtype="float64") / 100), 0.0)
        sigma = self.exit_sigma if sigma is None else sigma
        if not sigma > 0:
            return self._intrinsic_value(prices)
        strikes, calls, shorts = self._strikes
        values = black_scholes_legs(prices, strikes, sigma, calls)
        total = np.zeros(values.shape[0])
        for column, short in enumerate(shorts):  # leg by leg, in order: the sums are the same to the last bit
            total = total + (values[:, column] if short else -values[:, column])
        return total.reshape(prices.shape)

    def _intrinsic_value(self, prices: np.ndarray) -> np.ndarray:
        """`exit_value` without volatility: every leg's intrinsic value (`black_scholes_legs`' at sigma 0) at
        `prices`, summed leg by leg in order."""
        total = np.zeros(prices.shape)
        for leg in self.legs:  # a put's max(strike - max(price, 0), 0): the prices are at least 0 already
            call = leg.kind == "call"
            value = np.maximum(prices - leg.strike, 0.0) if call else np.maximum(leg.strike - prices, 0.0)
            total = total + (value if leg.short else -value)
        return total

    def _intrinsic_at(self, price: float) -> float:
        """`_intrinsic_value` at one price, on Python floats (the same operations)."""
        total = 0.0
        for leg in self.legs:
            value = max(price - leg.strike, 0.0) if leg.kind == "call" else max(leg.strike - max(price, 0.0), 0.0)
            total = total + (value if leg.short else -value)
        return total

    def pnl(self, moves_pct: np.ndarray) -> np.ndarray:
        """Dollars per contract after a signed move, costs included (for a few moves without volatility, as a
        break-even's root steps ask, on Python floats: the same operations)."""
        moves = np.asarray(moves_pct, dtype="float64")
        if moves.size > FEW_MOVES or self.exit_sigma > 0:
            return SHARES_PER_CONTRACT * (self.credit - self.exit_value(moves)) - self.cost
        return np.array(self.pnl_of(moves.reshape(-1).tolist())).reshape(moves.shape)

    def pnl_of(self, moves: list[float]) -> list[float]:
        """`pnl` of moves given and returned as Python floats (a few moves computed so: without volatility every
        operation, with it all but Black-Scholes, which prices them in one call)."""
        if len(moves) > FEW_MOVES:
            return self.pnl(np.array(moves, dtype="float64")).tolist()
        spot, credit, cost = self.spot, self.credit, self.cost
        prices = [max(spot * (1 + move / 100), 0.0) for move in moves]  # `exit_value`'s, as np.maximum
        if self.exit_sigma > 0:
            strikes, calls, shorts = self._strikes
            values = black_scholes_legs(np.array(prices), strikes, self.exit_sigma, calls).tolist()
            totals = []
            for row in values:  # `exit_value`'s sum, leg by leg in order from 0.0
                total = 0.0
                for value, short in zip(row, shorts, strict=True):
                    total = total + (value if short else -value)
                totals.append(total)
        else:
            totals = [self._intrinsic_at(price) for price in prices]
        return [SHARES_PER_CONTRACT * (credit - total) - cost for total in totals]

    @cached_property
    def max_loss(self) -> float | None:
        """Dollars per contract for a defined-risk position (one side's wing width less the credit, plus
        costs); None for naked options."""
        if self.naked:
            return None
        _, _, put_width, call_width = self.distances()
        width = max(w for w in (put_width, call_width, 0.0) if w is not None) * self.spot / 100
        return max(SHARES_PER_CONTRACT * (width - self.credit) + self.cost, 0.0)


@dataclass(frozen=True)
class Economics:
    """Dollars per contract, except `prob_loss`."""

    credit: float
    expected_intrinsic: float
    expected_time_value: float
    cost: float
    gross_ev: float
    ev: float
    prob_loss: float
    stress_loss: float  # the loss if the stock moves by the distribution's q99 on the worse side
    max_loss: float | None
    node_pnl: np.ndarray = field(repr=False, compare=False)  # the P&L at `signed_nodes`, for the sizing


_STEPS = np.arange(GRID_POINTS, dtype="float64")
_STEPS.flags.writeable = False


def regular_grid(stop: float) -> np.ndarray:
    """`np.linspace(0.0, stop, GRID_POINTS)` of a stop at or above 0 (or NaN), its very floats without
    linspace's Python steps: 0, 1, 2, ... times stop / (GRID_POINTS - 1) (linspace's + 0.0 changes none of
    them), the last exactly stop; linspace itself where that step is 0 (it divides first then)."""
    step = stop / (GRID_POINTS - 1)
    if step == 0:
        return np.linspace(0.0, stop, GRID_POINTS)
    regular = _STEPS * step
    regular[-1] = stop
    return regular


def regular_grids(stops: np.ndarray) -> np.ndarray:
    """`regular_grid` of each stop, one row each: the floats of `np.linspace(0.0, stop, GRID_POINTS)` row by row
    (not of one `linspace` of all the stops, which divides first for every row where one step is 0)."""
    steps = stops / (GRID_POINTS - 1)
    grids = steps[:, None] * _STEPS
    grids[:, -1] = stops
    for row in np.flatnonzero(steps == 0).tolist():
        grids[row] = np.linspace(0.0, stops[row], GRID_POINTS)
    return grids


def loss_grid(distribution: MoveDistribution, position: Position) -> np.ndarray:
    """|move| grid for break-evens: the quadrature nodes, the strikes' distances and a regular grid that
    reaches well past the farthest strike plus the credit (where a losing side has started to lose)."""
    nodes, _ = quantile_quadrature(distribution)
    strikes = [100 * abs(leg.strike / position.spot - 1) for leg in position.legs]
    reach = 2 * (max(strikes) + 100 * abs(position.credit) / position.spot) + 1.0
    regular = regular_grid(max(float(np.maximum.reduce(nodes)), reach))  # nodes.max() without its wrapper
    grid = np.concatenate([[0.0], nodes, strikes, regular])
    grid.sort(kind="stable")  # `np.unique`'s sorted values: runs already sorted merge faster so
    if grid[-1] != grid[-1]:  # NaN (sorted last): `np.unique` keeps one
        return np.unique(grid)
    distinct = np.empty(grid.size, dtype=bool)
    distinct[0] = True
    np.not_equal(grid[1:], grid[:-1], out=distinct[1:])
    return grid[distinct]


def prob_loss(position: Position, distribution: MoveDistribution, p_up: float) -> float:
    """P(PnL < 0): per side, the distribution's mass where the P&L after a move of that size is negative."""
    from scipy.optimize import brentq  # imported here: serving never calls it, scipy.optimize is slow to import

    grid = loss_grid(distribution, position)
    both = position.pnl(np.concatenate([-grid, grid]))  # the down side's P&L, then the up side's
    total = 0.0
    for sign, share, values in ((-1.0, 1.0 - p_up, both[: len(grid)]), (1.0, p_up, both[len(grid) :])):
        if share <= 0:
            continue

        def side_pnl(a: float, sign: float = sign) -> float:
            return float(position.pnl(np.array([sign * a]))[0])

        losing = values < 0
        edges = [0.0] if losing[0] else []
        for i in np.flatnonzero(losing[1:] != losing[:-1]):
            edges.append(brentq(side_pnl, grid[i], grid[i + 1], xtol=1e-10))
        if len(edges) % 2:
            edges.append(np.inf)
        if edges:
            cdf = distribution.cdf(np.array(edges))
            for start, end in zip(cdf[::2], cdf[1::2], strict=True):
                total += share * float(end - start)
    return total


def evaluate(position: Position, distribution: MoveDistribution, p_up: float) -> Economics:
    """EV (credit - expected intrinsic payout - expected time value bought back - costs), P(loss), stress loss."""
    put_distance, call_distance, put_width, call_width = position.distances()
    intrinsic = position.spot * float(
        distribution.structure_payout(put_distance, call_distance, put_width, call_width, p_up=p_up)
    )
    moves, weights = signed_nodes(distribution, p_up)
    exit_value = position.exit_value(moves)
    time_value = 0.0
    if position.exit_sigma > 0:
        left = exit_value - position.exit_value(moves, sigma=0.0)
        time_value = SHARES_PER_CONTRACT * float(np.sum(weights * left))
    credit = SHARES_PER_CONTRACT * position.credit
    gross = credit - intrinsic - time_value
    q99 = float(distribution.ppf(STRESS_LEVEL))
    stress = -float(np.min(position.pnl(np.array([-q99, q99]))))
    return Economics(
        credit=credit,
        expected_intrinsic=intrinsic,
        expected_time_value=time_value,
        cost=position.cost,
        gross_ev=gross,
        ev=gross - position.cost,
        prob_loss=prob_loss(position, distribution, p_up),
        stress_loss=max(stress, 0.0),
        max_loss=position.max_loss,
        node_pnl=SHARES_PER_CONTRACT * (position.credit - exit_value) - position.cost,  # = position.pnl(moves)
    )

"""Position economics that serving and the backtests share: trading costs, Reg-T margin of naked short
options, expectations over a move distribution by quadrature of its quantile function, and the
log-optimal (Kelly) size of a position.

Money is in dollars per contract (100 shares) unless a name says "per share".
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Sequence

import numpy as np

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.settings import Costs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.distribution_levels import FixedLevels

SHARES_PER_CONTRACT = 100
# The quadrature stops at the 1 - TRUNCATED_MASS quantile and puts the last TRUNCATED_MASS of probability at
# the larger of that quantile and DISASTER_MOVE_PCT (the stock to zero, or doubling): the worst outcome a size
# is planned for (a GPD tail has no maximum; a thin one would otherwise never reach far strikes).
TRUNCATED_MASS = 1e-6
DISASTER_MOVE_PCT = 100.0
_BODY_NODES = 32
_TAIL_SEGMENTS = 8
_TAIL_NODES = 16
_FEW_SUMMED = 8  # numpy sums fewer values than this one by one, left to right (its pairwise sum's base case)
_BODY_RULE = np.polynomial.legendre.leggauss(_BODY_NODES)
_TAIL_RULE = np.polynomial.legendre.leggauss(_TAIL_NODES)


# ------------------------------------------------------------------------------------------------ costs


def fill_cost(costs: Costs, bid_ask: float | np.ndarray) -> float | np.ndarray:
    """Dollars per contract of one fill of one leg: the commission and the slippage from the mid
    (`slippage_share` of the bid-ask spread per share, plus `slippage_ticks` ticks)."""
    slippage = costs.slippage_share * np.asarray(bid_ask, dtype="float64") + costs.slippage_ticks * costs.tick_size
    value = costs.commission_per_contract + SHARES_PER_CONTRACT * slippage
    return float(value) if np.ndim(value) == 0 else value


def round_trip_cost(
    costs: Costs, entry_bid_asks: Sequence[float], exit_bid_asks: Sequence[float] | None = None
) -> float:
    """Dollars per contract of a position opened and closed leg by leg (one fill each way per leg); the
    exit's bid-ask spreads are the entry's unless given."""
    exits = entry_bid_asks if exit_bid_asks is None else exit_bid_asks
    if len(exits) != len(entry_bid_asks):
        raise ValueError(f"{len(entry_bid_asks)} entry legs but {len(exits)} exit legs")
    return _fills(costs, entry_bid_asks) + _fills(costs, exits)


def _fills(costs: Costs, bid_asks: Sequence[float]) -> float:
    """`np.sum(fill_cost(costs, bid_asks))`: for fewer than 8 legs on Python floats, each leg's `fill_cost` (the
    same operations) added left to right from 0.0, as numpy sums fewer than 8 values."""
    if len(bid_asks) >= _FEW_SUMMED:
        return float(np.sum(fill_cost(costs, np.asarray(bid_asks, dtype="float64"))))
    ticks = costs.slippage_ticks * costs.tick_size
    total = 0.0
    for bid_ask in bid_asks:
        total = total + (costs.commission_per_contract + SHARES_PER_CONTRACT * (costs.slippage_share * bid_ask + ticks))
    return total


def modelled_bid_ask(costs: Costs, value: float) -> float:
    """The bid-ask spread (per share) assumed for an option of modelled `value` where no quote gives it."""
    return max(costs.min_bid_ask, costs.modelled_bid_ask_share * value)


def modelled_bid_asks(costs: Costs, values: np.ndarray) -> np.ndarray:
    """`modelled_bid_ask` of each value: the same floats (the larger of the two, the minimum where equal, as
    Python's `max` chooses)."""
    share = costs.modelled_bid_ask_share * np.asarray(values, dtype="float64")
    return np.where(share > costs.min_bid_ask, share, costs.min_bid_ask)


# ----------------------------------------------------------------------------------------------- margin


def reg_t_short_option(spot: float, strike: float, premium: float, kind: str) -> float:
    """Reg-T style margin per share of one naked short option: the premium plus 20% of the underlying less
    the out-of-the-money amount, at least the premium plus 10% (of the underlying for a call, of the strike
    for a put)."""
    if kind == "call":
        out_of_the_money, floor = max(strike - spot, 0.0), 0.10 * spot
    elif kind == "put":
        out_of_the_money, floor = max(spot - strike, 0.0), 0.10 * strike
    else:
        raise ValueError(f"option kind must be 'put' or 'call', not {kind!r}")
    return premium + max(0.20 * spot - out_of_the_money, floor)


def reg_t_naked_margin(spot: float, shorts: Sequence[tuple[str, float, float]]) -> float:
    """Margin per contract of naked short options (kind, strike, premium per share): one option's
    requirement, or for a strangle the larger side's requirement plus the other side's premium."""
    if not shorts:
        return 0.0
    requirements = [reg_t_short_option(spot, strike, premium, kind) for kind, strike, premium in shorts]
    largest = _first_largest(requirements)
    others = sum(premium for i, (_, _, premium) in enumerate(shorts) if i != largest)
    return SHARES_PER_CONTRACT * (requirements[largest] + others)


def _first_largest(values: list[float]) -> int:
    """`np.argmax(values)` on Python floats: the first largest, a NaN above everything (the first NaN)."""
    largest = 0
    for i, value in enumerate(values):
        if value > values[largest] or (math.isnan(value) and not math.isnan(values[largest])):
            largest = i
    return largest


# ------------------------------------------------------------------------------------------- quadrature


def _quadrature_levels() -> tuple[np.ndarray, np.ndarray]:
    """The probabilities u of `quantile_quadrature`'s nodes and their weights (the same for every event)."""
    base, base_weights = _BODY_RULE
    levels = np.array([0.0, *QUANTILE_LEVELS])
    u_parts, w_parts = [], []
    for lo, hi in itertools.pairwise(levels):
        u_parts.append(lo + (hi - lo) * (base + 1) / 2)
        w_parts.append((hi - lo) / 2 * base_weights)
    tail_mass = 1.0 - levels[-1]
    t_max = math.log(tail_mass / TRUNCATED_MASS)
    edges = np.linspace(0.0, t_max, _TAIL_SEGMENTS + 1)
    tail_base, tail_weights = _TAIL_RULE
    for lo, hi in itertools.pairwise(edges):
        t = lo + (hi - lo) * (tail_base + 1) / 2
        u_parts.append(1.0 - tail_mass * np.exp(-t))
        w_parts.append((hi - lo) / 2 * tail_weights * tail_mass * np.exp(-t))
    u = np.concatenate([*u_parts, [1.0 - TRUNCATED_MASS]])
    weights = np.concatenate([*w_parts, [TRUNCATED_MASS]])
    weights = weights / weights.sum()
    u.flags.writeable = weights.flags.writeable = False
    return u, weights


_LEVELS, _WEIGHTS = _quadrature_levels()
_FIXED_LEVELS = FixedLevels(_LEVELS)
# nodes per distribution object, computed once: a decision integrates over the same nodes several times
_NODES: weakref.WeakKeyDictionary[MoveDistribution, np.ndarray] = weakref.WeakKeyDictionary()
# the (n, m) nodes of n-event distributions whose events' nodes were known before (`keep_quadrature_nodes`)
_EVENTS_NODES: weakref.WeakKeyDictionary[MoveDistribution, np.ndarray] = weakref.WeakKeyDictionary()


def quantile_quadrature(distribution: MoveDistribution) -> tuple[np.ndarray, np.ndarray]:
    """Nodes |x| and weights (summing to 1) with E[g(|X|)] ~ sum w g(x) for one event's distribution
    (read-only arrays, computed once per distribution object).

    Gauss-Legendre over the probability u of the quantile function, segment by segment between the levels
    of the forecast quantiles; the tail u > q90 in t = -log((1 - u) / 0.1) up to the 1 - TRUNCATED_MASS
    quantile; the remaining mass sits at the larger of that quantile and DISASTER_MOVE_PCT.
    """
    if len(distribution) != 1:
        raise ValueError(f"one event's distribution expected, got {len(distribution)}")
    nodes = _NODES.get(distribution)
    if nodes is None:
        one = _FIXED_LEVELS.ppf_one(distribution)  # `ppf` of the levels, what depends on them alone made once
        nodes = np.asarray(distribution.ppf(_LEVELS), dtype="float64").reshape(-1) if one is None else one
        nodes[-1] = max(nodes[-1], DISASTER_MOVE_PCT)
        nodes.flags.writeable = False
        _NODES[distribution] = nodes
    return nodes, _WEIGHTS


def quadrature_nodes(distribution: MoveDistribution) -> tuple[np.ndarray, np.ndarray]:
    """`quantile_quadrature` for every event of a distribution at once: nodes (n, m), row i exactly event i's
    nodes (read-only where kept by `keep_quadrature_nodes`), and the weights (m,)."""
    nodes = _EVENTS_NODES.get(distribution)
    if nodes is None:
        nodes = distribution.ppf_each(_LEVELS)
        nodes[:, -1] = np.maximum(nodes[:, -1], DISASTER_MOVE_PCT)
    return nodes, _WEIGHTS


def keep_quadrature_nodes(distribution: MoveDistribution, rows: Sequence[np.ndarray] | np.ndarray) -> None:
    """Keep for this n-event distribution the nodes of its events, each row event i's `quantile_quadrature`
    nodes computed before (as kept with an event's forecast): `quadrature_nodes` (and, for one event,
    `quantile_quadrature`) then returns them. A read-only (n, m) array is kept as it is (not copied)."""
    nodes = rows if isinstance(rows, np.ndarray) and not rows.flags.writeable else np.stack(list(rows))
    if nodes.shape != (len(distribution), len(_LEVELS)):
        raise ValueError(f"nodes of shape {nodes.shape} for {len(distribution)} events")
    nodes.flags.writeable = False
    _EVENTS_NODES[distribution] = nodes
    if len(distribution) == 1:
        _NODES[distribution] = nodes[0]


def signed_nodes(distribution: MoveDistribution, p_up: float) -> tuple[np.ndarray, np.ndarray]:
    """Signed moves and weights: the |x| nodes of `quantile_quadrature` down with weight 1 - p_up, up with p_up."""
    nodes, weights = quantile_quadrature(distribution)
    return np.concatenate([-nodes, nodes]), np.concatenate([(1 - p_up) * weights, p_up * weights])


# ----------------------------------------------------------------------------------------------- sizing


def expected_log_growth(contracts: float, pnl: np.ndarray, weights: np.ndarray, equity: float) -> float:
    """E[log(1 + contracts x PnL / equity)] (-inf where some outcome loses the whole equity)."""
    wealth = 1.0 + contracts * np.asarray(pnl, dtype="float64") / equity
    if np.any((wealth <= 0) & (weights > 0)):
        return -math.inf
    return float(np.sum(weights * np.log(wealth)))


def log_optimal_contracts(pnl: np.ndarray, weights: np.ndarray, equity: float) -> float:
    """The number of contracts (continuous) that maximises E[log(1 + c PnL / equity)] over the outcomes
    `pnl` (dollars per contract) with probabilities `weights`: 0 when E[PnL] <= 0, infinite when no outcome
    loses. Always below equity / (the worst loss): the log-optimal size never stakes the whole equity."""
    from scipy.optimize import brentq  # imported here: serving never calls it, scipy.optimize is slow to import

    pnl = np.asarray(pnl, dtype="float64")
    weights = np.asarray(weights, dtype="float64")
    if float(np.sum(weights * pnl)) <= 0:
        return 0.0
    worst = float(np.max(-pnl[weights > 0]))
    if worst <= 0:
        return math.inf
    ruin = equity / worst

    def slope(c: float) -> float:
        return float(np.sum(weights * pnl / (equity + c * pnl)))

    upper = ruin * (1 - 1e-12)
    if slope(upper) >= 0:
        return upper
    return float(brentq(slope, 0.0, upper, xtol=1e-12 * ruin, rtol=1e-12))

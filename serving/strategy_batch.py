"""`decide` for many events at once: one `MoveDistribution` of n events, every event's forecast integrals,
modelled prices, position economics (`payoff_batch`) and log-optimal sizes computed with arrays across the
events; only the choices that read one event's numbers (structure, strikes, quoted legs) and the final
`Decision` are made event by event. Each decision is exactly `decide`'s for that event."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ivcrush.constants import QUANTILE_LEVELS
from ivcrush.serving.decision import Decision
from ivcrush.serving.market import MarketInputs
from ivcrush.serving.payoff import Leg
from ivcrush.serving.payoff_batch import SLOTS, Positions, evaluate_many
from ivcrush.serving.pricing import option_values
from ivcrush.serving.sizing import log_optimal_many, wants_size
from ivcrush.serving.strategy import (
    WING_MULTIPLE,
    Case,
    Target,
    choose_structure,
    conclude,
    quoted_legs,
    strike_increment,
    targets_of,
)
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import fill_cost, modelled_bid_asks


def decide_many(
    distribution: MoveDistribution,
    *,
    markets: Sequence[MarketInputs],
    prob_up: Sequence[float | None],
    account: Account,
    costs: Costs,
    hist_mean_2_0_pct: Sequence[float | None] | None = None,
    preset: str = "balanced",
    strike_quantile: float = 0.9,
) -> list[Decision]:
    """`decide` of event i (`distribution`'s i-th event, `markets[i]`, `prob_up[i]`, `hist_mean_2_0_pct[i]`)
    for every i, in order."""
    n = len(distribution)
    if not len(markets) == len(prob_up) == n:
        raise ValueError(f"{n} distributions, {len(markets)} markets and {len(prob_up)} directions")
    hist: list[float | None] = [None] * n if hist_mean_2_0_pct is None else list(hist_mean_2_0_pct)
    quantiles = [dict(zip(QUANTILE_LEVELS, row, strict=True)) for row in distribution.quantiles.tolist()]
    earnings = np.array([market.earnings_move_pct for market in markets])
    means = np.broadcast_to(distribution.mean(), (n,)).tolist()
    distances = [max(q[strike_quantile], e) for q, e in zip(quantiles, earnings.tolist(), strict=True)]
    # P(|move| > earnings-only implied) and P(|move| > the wing's multiple of the short distance), in one call
    p_breach, p_beyond = np.broadcast_to(
        distribution.sf(np.stack([earnings, np.array(distances) * WING_MULTIPLE])), (2, n)
    ).tolist()
    structures = [
        choose_structure(q, distance, up, beyond)
        for q, distance, up, beyond in zip(quantiles, distances, prob_up, p_beyond, strict=True)
    ]
    targets = [
        targets_of(structure[0], distance, market.spot)
        for structure, distance, market in zip(structures, distances, markets, strict=True)
    ]
    quoted = [
        None if market.quotes is None else quoted_legs(target, market.quotes)
        for target, market in zip(targets, markets, strict=True)
    ]
    legs = _legs(targets, quoted, markets, costs)
    positions = Positions.of(legs, [m.spot for m in markets], [m.exit_sigma for m in markets], _costs(legs, costs))
    p_up = np.array([0.5 if up is None else up for up in prob_up], dtype="float64")
    batch = evaluate_many(positions, distribution, p_up)
    sized = [i for i, e in enumerate(batch.economics) if wants_size(e.gross_ev, e.ev)]
    full_kelly = np.zeros(n)
    if sized:
        pnl = np.stack([batch.economics[i].node_pnl for i in sized])
        full_kelly[sized] = log_optimal_many(pnl, batch.weights[sized], account.equity)
    naked = positions.naked.tolist()
    return [
        conclude(
            Case(quantiles[i], markets[i], means[i], p_breach[i], prob_up[i], hist[i], preset, strike_quantile),
            structure=structures[i],
            legs=legs[i],
            quotes_missing=missing if isinstance(missing := quoted[i], str) else None,
            naked=naked[i],
            economics=batch.economics[i],
            full_kelly=float(full_kelly[i]),
            account=account,
            costs=costs,
        )
        for i in range(n)
    ]


def _legs(
    targets: list[list[Target]],
    quoted: list[tuple[Leg, ...] | str | None],
    markets: Sequence[MarketInputs],
    costs: Costs,
) -> list[tuple[Leg, ...]]:
    """Each event's quoted legs, else its modelled ones (`strategy._modelled_legs`): strikes, Black-Scholes
    premiums and assumed bid-asks computed for all modelled legs at once, the same floats as leg by leg."""
    modelled = [i for i, q in enumerate(quoted) if not isinstance(q, tuple)]
    flat = [(i, kind == "call", price, short) for i in modelled for kind, price, short in targets[i]]
    if not flat:
        return [q for q in quoted if isinstance(q, tuple)]
    event, call, price, _ = (list(column) for column in zip(*flat, strict=True))
    is_call = np.array(call)
    spot = np.array([markets[i].spot for i in event])
    sigmas = {i: markets[i].entry_sigma for i in modelled}  # a property computed on each reading: read once
    sigma = np.array([sigmas[i] for i in event])
    strikes = modelled_strikes_many(np.array(price), spot, is_call)
    strike, premium = np.array(strikes), np.zeros(len(flat))
    for kind in (False, True):  # the puts, then the calls: the very arrays (so the same pricing branch) as before
        chosen = np.flatnonzero(is_call == kind)
        if chosen.size:
            premium[chosen] = option_values(spot[chosen], strike[chosen], sigma[chosen], call=kind)
    bid_ask = modelled_bid_asks(costs, premium)
    made = [
        Leg("call" if kind else "put", strike, short, value, spread)
        for (_, kind, _, short), strike, value, spread in zip(
            flat, strikes, premium.tolist(), bid_ask.tolist(), strict=True
        )
    ]
    legs: list[tuple[Leg, ...]] = []
    start = 0
    for i, q in enumerate(quoted):
        if isinstance(q, tuple):
            legs.append(q)
        else:
            end = start + len(targets[i])
            legs.append(tuple(made[start:end]))
            start = end
    return legs


def modelled_strikes_many(price: np.ndarray, spot: np.ndarray, call: np.ndarray) -> list[float]:
    """`strategy.modelled_strikes` of many legs (each its own spot): the strike increment's steps floored for a
    put, ceiled for a call (the same floats as math's), times the increment, rounded by Python's `round`."""
    increment = np.array([strike_increment(value) for value in spot.tolist()])
    ratio = price / increment
    steps = np.where(call, np.ceil(ratio), np.floor(ratio)) + 0.0  # + 0.0: math.ceil's 0 for numpy's -0.0
    return [round(value, 2) for value in (steps * increment).tolist()]


def _costs(legs: list[tuple[Leg, ...]], costs: Costs) -> np.ndarray:
    """`round_trip_cost` of each position (every leg's fill opening and closing at its bid-ask), summed leg
    by leg as numpy sums a few legs."""
    bid_ask = np.zeros((len(legs), SLOTS))
    present = np.zeros((len(legs), SLOTS), dtype=bool)
    for i, position in enumerate(legs):
        for j, leg in enumerate(position):
            bid_ask[i, j], present[i, j] = leg.bid_ask, True
    fills = np.where(present, fill_cost(costs, bid_ask), 0.0)
    one_way = np.zeros(len(legs))
    for j in range(SLOTS):
        one_way = one_way + fills[:, j]
    return one_way + one_way

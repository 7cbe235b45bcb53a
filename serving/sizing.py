"""Position size: the log-optimal number of contracts over the event's distribution, times the configured
fractional-Kelly multiplier, capped by the risk per trade, the margin per trade (naked options) and the
maximum number of contracts; the reason says which rule set the size."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ivcrush.serving.brent import brentq_many
from ivcrush.settings import Account


@dataclass(frozen=True)
class Sizing:
    contracts: int
    limit: str  # the rule that set the size, in a word or two
    reason: str  # the rule with its numbers
    full_kelly_contracts: float
    kelly_fraction_of_equity: float  # full Kelly's contracts x risk per contract / equity


def wants_size(gross_ev: float, ev: float) -> bool:
    """Whether a position is sized at all (its full-Kelly size is needed): an edge before and after costs."""
    return gross_ev > 0 and ev > 0


def size_position(
    *,
    full_kelly: float,
    gross_ev: float,
    ev: float,
    cost: float,
    risk_per_contract: float,
    risk_label: str,
    margin_per_contract: float | None,
    account: Account,
    blocked: str | None = None,
) -> Sizing:
    """Contracts for one position: `full_kelly` the log-optimal contracts over its distribution (needed only
    where `wants_size`); `risk_per_contract` the loss the per-trade cap divides (max loss, or a stress loss);
    `blocked` a reason to trade nothing whatever the numbers (e.g. the VRP tier)."""
    if gross_ev <= 0:
        return Sizing(0, "EV <= 0", f"EV ${gross_ev:,.0f} <= 0 before costs", 0.0, 0.0)
    if ev <= 0:
        return Sizing(0, "EV < costs", f"EV < costs (${gross_ev:,.0f} before ${cost:,.0f} costs)", 0.0, 0.0)
    full = full_kelly
    fraction = full * risk_per_contract / account.equity if math.isfinite(full) else math.inf
    if blocked is not None:
        return Sizing(0, "VRP tier", blocked, full, fraction)
    budget = account.equity * account.max_risk_per_trade
    sizes = [account.kelly_fraction * full, budget / max(risk_per_contract, 1e-9), float(account.max_contracts)]
    if margin_per_contract is not None:
        sizes.append(account.equity * account.max_margin_per_trade / margin_per_contract)
    rule = 0  # the first smallest, as min() chooses; only its reason is written
    for i in range(1, len(sizes)):
        if sizes[i] < sizes[rule]:
            rule = i
    value = sizes[rule]
    if rule == 0:
        limit, reason = "Kelly", f"{account.kelly_fraction:g} x full Kelly {full:.2f} contracts"
    elif rule == 1:
        limit = "risk cap"
        reason = (
            f"capped by {account.max_risk_per_trade:.0%} risk per trade "
            f"(${budget:,.0f} / ${risk_per_contract:,.0f} {risk_label} per contract)"
        )
    elif rule == 2:
        limit, reason = "max contracts", f"capped by max {account.max_contracts} contracts"
    else:
        allowed = account.equity * account.max_margin_per_trade
        limit = "margin cap"
        reason = (
            f"capped by margin ({account.max_margin_per_trade:.0%} of equity = ${allowed:,.0f} / "
            f"${margin_per_contract:,.0f} Reg-T margin per contract)"
        )
    contracts = math.floor(value + 1e-9)
    if contracts == 0:
        reason = f"{reason} = {value:.2f}, rounds down to 0"
    return Sizing(contracts, limit, reason, full, fraction)


def log_optimal_many(pnl: np.ndarray, weights: np.ndarray, equity: float) -> np.ndarray:
    """`log_optimal_contracts` of every row of `pnl` / `weights` (n, m) at once, the same floats (its root by
    `brentq_many`, scipy's steps)."""
    pnl, weights = np.asarray(pnl, dtype="float64"), np.asarray(weights, dtype="float64")
    full = np.zeros(len(pnl))
    weighted = weights * pnl
    edge = np.sum(weighted, axis=1) > 0
    worst = np.where(weights > 0, -pnl, -np.inf).max(axis=1)
    unbounded = edge & (worst <= 0)
    full[unbounded] = math.inf
    rows = np.flatnonzero(edge & ~unbounded)
    ruin = equity / worst[rows]
    upper = ruin * (1 - 1e-12)
    weighted, pnl = weighted[rows], pnl[rows]
    space = np.empty_like(pnl)  # the terms, in place: the same floats as new arrays, in memory already cached

    def slope(c: np.ndarray, which: np.ndarray) -> np.ndarray:  # weights x pnl / (equity + c pnl), summed
        terms = space[: len(which)]
        every = len(which) == len(pnl)  # then `which` is every row in order (brentq_many's rows are sorted)
        np.multiply(c[:, None], pnl if every else pnl[which], out=terms)
        np.add(equity, terms, out=terms)
        np.divide(weighted if every else weighted[which], terms, out=terms)
        return np.add.reduce(terms, axis=1)  # np.sum's reduction, without its Python dispatch

    near_ruin = slope(upper, np.arange(len(rows)))
    at_ruin = near_ruin >= 0
    full[rows[at_ruin]] = upper[at_ruin]
    searched = np.flatnonzero(~at_ruin)
    if searched.size:
        zero = np.zeros(searched.size)
        # f at the brackets' ends: at 0 asked here, at the upper end known (each row's sum is its own: the same
        # float whichever rows are summed with it)
        ends = (slope(zero, searched), near_ruin[searched])
        full[rows[searched]] = brentq_many(
            lambda c, which: slope(c, searched[which]),
            zero,
            upper[searched],
            xtol=1e-12 * ruin[searched],
            rtol=1e-12,
            ends=ends,
        )
    return full

"""`decide_many` (the scan's batch) gives, float for float, `decide`'s decision of every event, whatever the mix
of events in the batch: random forecasts, markets (modelled and quoted credits, T from 1 to 6, tiny to large
spots), directions and presets (hypothesis, derandomized). The pieces it stands on agree with their one-event
forms too: `MoveDistribution.ppf_each` and `event`, and `brentq_many` with scipy's brentq."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from ivcrush.constants import TIER_PRESETS
from ivcrush.serving.brent import brentq_many
from ivcrush.serving.market import MarketInputs
from ivcrush.serving.payoff_batch import loss_mass
from ivcrush.serving.strategy import decide, modelled_strikes
from ivcrush.serving.strategy_batch import decide_many, modelled_strikes_many
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import quadrature_nodes, quantile_quadrature
from tests.test_strategy_reference import REFERENCE, _cases, chain_of

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SPOTS = [0.8, 3.7, 18.0, 47.5, 100.0, 163.2, 420.0, 2500.0]


def _chain(spot: float, reach: float) -> pd.DataFrame:
    return chain_of(spot, np.round(spot * np.linspace(0.5, reach, 41), 2))


@st.composite
def events(draw: st.DrawFn) -> tuple[np.ndarray, float, float, MarketInputs, float | None, float | None]:
    """One event: quantiles (sometimes tied), tail, market, direction and 2.0's mean."""
    scale = draw(st.floats(0.2, 20.0))
    steps = draw(st.lists(st.sampled_from([0.0, 0.05, 0.3, 1.0, 2.5]), min_size=5, max_size=5))
    quantiles = scale * np.cumsum(np.array(steps) + np.array([0.01, 0, 0, 0, 0.2]))
    spot = draw(st.sampled_from(SPOTS))
    quote_days = draw(st.integers(1, 6))
    quoted = draw(st.sampled_from([None, None, None, 1.1, 1.6]))
    market = MarketInputs(
        spot=spot,
        implied_total_pct=draw(st.floats(0.5, 45.0)),
        quote_days=quote_days,
        decision_days=draw(st.integers(1, quote_days)),
        ordinary_move_pct=draw(st.floats(0.1, 4.0)),
        quotes=None if quoted is None else _chain(spot, quoted),
    )
    prob_up = draw(st.one_of(st.none(), st.floats(0.0, 1.0)))
    hist = draw(st.one_of(st.none(), st.floats(0.5, 15.0)))
    return quantiles, draw(st.floats(0.0, 0.95)), draw(st.floats(0.01, 1.5)), market, prob_up, hist


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(events(), min_size=1, max_size=12),
    st.sampled_from(sorted(TIER_PRESETS)),
    st.sampled_from([0.75, 0.9]),
    st.sampled_from([Account(), Account(equity=2_000.0, kelly_fraction=1.0, max_risk_per_trade=1.0)]),
    st.sampled_from([Costs(), Costs(commission_per_contract=40.0, slippage_share=0.9)]),
)
def test_the_batch_decides_every_event_as_decide_does(
    batch: list[tuple[np.ndarray, float, float, MarketInputs, float | None, float | None]],
    preset: str,
    strike_quantile: float,
    account: Account,
    costs: Costs,
) -> None:
    quantiles = np.array([event[0] for event in batch])
    shapes, scales = [event[1] for event in batch], [event[2] for event in batch]
    options = {"account": account, "costs": costs, "preset": preset, "strike_quantile": strike_quantile}
    many = decide_many(
        MoveDistribution(quantiles, shapes, scales),
        markets=[event[3] for event in batch],
        prob_up=[event[4] for event in batch],
        hist_mean_2_0_pct=[event[5] for event in batch],
        **options,  # type: ignore[arg-type]
    )
    for (q, shape, scale, market, prob_up, hist), decision in zip(batch, many, strict=True):
        one = decide(
            MoveDistribution([q], shape, scale),
            market=market,
            prob_up=prob_up,
            hist_mean_2_0_pct=hist,
            **options,  # type: ignore[arg-type]
        )
        assert json.dumps(decision.to_dict()) == json.dumps(one.to_dict())
        assert json.dumps(one.to_dict()) == json.dumps(asdict(one))


def test_the_batch_reproduces_the_pinned_reference_decisions() -> None:
    """The 200 pinned cases of test_strategy_reference, decided in batches of one preset and strike quantile."""
    reference = json.loads(REFERENCE.read_text())
    groups: dict[tuple[str, float], list[int]] = {}
    cases = _cases()
    for i, (_, options) in enumerate(cases):
        groups.setdefault((str(options["preset"]), float(options["strike_quantile"])), []).append(i)  # type: ignore[arg-type]
    for (preset, strike_quantile), members in groups.items():
        distributions = [cases[i][0] for i in members]
        batch = MoveDistribution(
            np.vstack([d.quantiles for d in distributions]),
            np.concatenate([d.tail_shape for d in distributions]),
            np.concatenate([d.tail_scale for d in distributions]),
        )
        decisions = decide_many(
            batch,
            markets=[cases[i][1]["market"] for i in members],  # type: ignore[misc]
            prob_up=[cases[i][1]["prob_up"] for i in members],  # type: ignore[misc]
            hist_mean_2_0_pct=[cases[i][1]["hist_mean_2_0_pct"] for i in members],  # type: ignore[misc]
            account=Account(),
            costs=Costs(),
            preset=preset,
            strike_quantile=strike_quantile,
        )
        for i, decision in zip(members, decisions, strict=True):
            got = json.loads(json.dumps(decision.to_dict()))
            assert got == reference[i] or json.dumps(got) == json.dumps(reference[i]), f"case {i}"


def test_a_batch_of_none_is_refused_with_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="2 distributions"):
        decide_many(
            MoveDistribution([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6]]),
            markets=[MarketInputs(spot=10.0, implied_total_pct=5.0)],
            prob_up=[None],
            account=Account(),
            costs=Costs(),
        )


def test_each_events_quantiles_and_slices_are_its_own() -> None:
    rng = np.random.default_rng(7)
    quantiles = np.sort(rng.uniform(0.0, 12.0, (40, 5)), axis=1)
    quantiles[::7, 1] = quantiles[::7, 0]  # ties
    shapes, scales = rng.uniform(0, 0.9, 40), rng.uniform(0.05, 1.2, 40)
    batch = MoveDistribution(quantiles, shapes, scales)
    nodes, weights = quadrature_nodes(batch)
    levels = np.array([0.0, 0.03, 0.1, 0.42, 0.9, 0.95, 0.999999, 1.0])
    for i in range(len(batch)):
        alone = MoveDistribution(quantiles[i : i + 1], shapes[i], scales[i])
        want_nodes, want_weights = quantile_quadrature(alone)
        assert nodes[i].tolist() == want_nodes.tolist() and weights.tolist() == want_weights.tolist()
        assert batch.ppf_each(levels)[i].tolist() == np.asarray(alone.ppf(levels)).tolist()
        one = batch.event(i)
        for name in ("knots", "valid", "tail_shape", "tail_scale", "_slopes", "_cum_sf"):
            assert getattr(one, name).tolist() == getattr(alone, name).tolist(), name
        assert float(one.mean()) == float(alone.mean())
        assert one.sf(np.array([0.5, 3.0, 40.0])).tolist() == alone.sf(np.array([0.5, 3.0, 40.0])).tolist()
    alone = MoveDistribution(quantiles[:1], shapes[0], scales[0])
    alone.mean()
    assert float(alone.event(0).mean()) == float(alone.mean())


def test_brentq_many_finds_scipys_roots() -> None:
    rng = np.random.default_rng(11)
    shift, power = rng.uniform(-3, 3, 200), rng.choice([1.0, 3.0, 5.0], 200)
    lo, hi = shift - rng.uniform(0.5, 10, 200), shift + rng.uniform(0.5, 10, 200)

    def f(x: np.ndarray, which: np.ndarray) -> np.ndarray:
        return np.sign(x - shift[which]) * np.abs(x - shift[which]) ** power[which] - 1e-3 * np.cos(x)

    roots = brentq_many(f, lo, hi, xtol=1e-11)
    few = np.concatenate(
        [
            brentq_many(lambda x, w, i=i: f(x, w + i), lo[i : i + 5], hi[i : i + 5], xtol=1e-11)  # type: ignore[misc]
            for i in range(0, 200, 5)
        ]
    )
    assert few.tolist() == roots.tolist()  # a few brackets take the Python-float path: the same floats
    for i in range(200):
        want = brentq(lambda x, i=i: float(f(np.array([x]), np.array([i]))[0]), lo[i], hi[i], xtol=1e-11)
        assert roots[i] == want or (math.isnan(roots[i]) and math.isnan(want))
    with pytest.raises(ValueError, match="different signs"):
        brentq_many(f, hi, hi + 1, xtol=1e-11)


def test_the_loss_mass_sums_each_events_intervals_as_prob_loss_does() -> None:
    """`payoff_batch.loss_mass`: per event and side, the edges (0 where losing from the start, the roots in
    order, inf closing an open interval) give the one-event distribution's mass between pairs, summed as
    `payoff.prob_loss` sums them; a side of share 0 adds nothing; events without roots too."""
    rng = np.random.default_rng(11)
    n = 30
    quantiles = np.sort(rng.uniform(0.5, 12.0, (n, 5)), axis=1)
    batch = MoveDistribution(quantiles, rng.uniform(0, 0.9, n), rng.uniform(0.05, 1.2, n))
    p_up = rng.choice([0.0, 0.3, 0.5, 0.8, 1.0], n)
    starts_losing = rng.random((2, n)) < 0.4
    sides, events, roots = [], [], []
    for side in (0, 1):
        for event in range(n):
            found = np.sort(rng.uniform(0.1, 40.0, rng.integers(0, 5)))
            sides += [side] * len(found)
            events += [event] * len(found)
            roots += found.tolist()
    side_of, event_of, root_of = np.array(sides, dtype=np.intp), np.array(events, dtype=np.intp), np.array(roots)
    got = loss_mass(batch, p_up, starts_losing, side_of, event_of, root_of)
    for event in range(n):
        total = 0.0
        for side, share in ((0, 1.0 - p_up[event]), (1, p_up[event])):
            if share <= 0:
                continue
            mine = (side_of == side) & (event_of == event)
            edges = ([0.0] if starts_losing[side, event] else []) + root_of[mine].tolist()
            if len(edges) % 2:
                edges.append(np.inf)
            if edges:
                cdf = batch.event(event).cdf(np.array(edges))
                for start, end in zip(cdf[::2], cdf[1::2], strict=True):
                    total += share * float(end - start)
        assert got[event] == total, event
    assert loss_mass(batch, p_up, np.zeros((2, n), dtype=bool), side_of[:0], event_of[:0], root_of[:0]) == [0.0] * n


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*SPOTS, 24.99, 25.0, 199.99, 200.0]),
            st.sampled_from(["put", "call"]),
            st.one_of(st.floats(-60.0, 300.0), st.sampled_from([0.0, -0.2, 0.25, 1.5, 3.0, 105.0])),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_modelled_strikes_many_rounds_every_leg_as_modelled_strikes_does(
    legs: list[tuple[float, str, float]],
) -> None:
    """Strikes of many legs at once (tiny, negative and exactly listed prices, the increments' edges): the very
    floats `modelled_strikes` gives leg by leg, signs of zero included."""
    spot, call, price = (np.array(column) for column in zip(*legs, strict=True))
    many = modelled_strikes_many(price * spot / 100, spot, call == "call")
    one = [modelled_strikes([(kind, p * s / 100, True)], s)[0] for s, kind, p in legs]
    assert [repr(value) for value in many] == [repr(value) for value in one]

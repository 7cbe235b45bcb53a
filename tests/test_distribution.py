"""The move distribution: a proper CDF through the forecast quantiles, a generalized Pareto tail, and payoff
integrals that agree with Monte Carlo over its own samples. (hypothesis is not installed: seeded random
quantile sets stand in for property-based cases.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import genpareto

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.training.distribution import MoveDistribution

LEVELS = np.asarray(QUANTILE_LEVELS)


def random_quantiles(seed: int, n: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n random quantile sets (some with ties or a zero q10) and tail parameters."""
    rng = np.random.default_rng(seed)
    steps = rng.exponential(1.0, (n, 5)) * rng.choice([0.0, 1.0], (n, 5), p=[0.15, 0.85])
    steps[:, -1] += 0.2  # q90 > 0
    quantiles = np.cumsum(steps, axis=1) * rng.uniform(0.5, 5.0, (n, 1))
    return quantiles, rng.uniform(0.0, 0.6, n), rng.uniform(0.1, 1.0, n)


SEEDS = list(range(12))


@pytest.mark.parametrize("seed", SEEDS)
def test_cdf_is_monotone_in_unit_interval_and_passes_through_the_quantiles(seed: int) -> None:
    quantiles, shape, scale = random_quantiles(seed, n=5)
    dist = MoveDistribution(quantiles, shape, scale)
    xs = np.linspace(-1.0, 8 * quantiles[:, -1].max(), 4001)[:, None]
    cdf = dist.cdf(xs)
    assert cdf.shape == (4001, 5)
    assert np.all((cdf >= 0) & (cdf <= 1))
    assert np.all(np.diff(cdf, axis=0) >= -1e-12)
    assert np.allclose(dist.cdf(dist.quantiles.T), LEVELS[:, None], atol=1e-9)
    assert np.allclose(dist.quantiles, quantiles, atol=1e-5 * quantiles[:, -1:])  # ties are separated by 1e-6 q90
    assert np.allclose(dist.sf(xs), 1 - cdf, atol=1e-12)
    assert np.allclose(dist.cdf(0.0), 0.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_quantile_function_inverts_the_cdf(seed: int) -> None:
    quantiles, shape, scale = random_quantiles(seed, n=3)
    dist = MoveDistribution(quantiles, shape, scale)
    p = np.linspace(0.0, 0.9999, 2001)[:, None]
    assert np.allclose(dist.cdf(dist.ppf(p)), p, atol=1e-9)
    assert np.allclose(dist.ppf(LEVELS[:, None]), dist.quantiles.T, rtol=1e-9)
    assert np.all(np.isinf(dist.ppf(1.0)))


@pytest.mark.parametrize("seed", SEEDS)
def test_tail_is_the_generalized_pareto_scaled_by_q90_and_continuous(seed: int) -> None:
    quantiles, shape, scale = random_quantiles(seed)
    dist = MoveDistribution(quantiles, shape, scale)
    q90 = dist.q90[0]
    z = np.array([0.0, 0.1, 0.5, 1.0, 3.0, 10.0])
    expected = 0.1 * genpareto.sf(z, c=shape[0], scale=scale[0])
    assert np.allclose(dist.sf(q90 * (1 + z)), expected, rtol=1e-9)
    assert dist.sf(q90 * (1 - 1e-9)) == pytest.approx(0.1, abs=1e-6)
    assert dist.sf(q90 * (1 + 1e-9)) == pytest.approx(0.1, abs=1e-6)


def test_tail_has_mass_beyond_any_finite_move_and_a_short_strangle_can_lose() -> None:
    dist = MoveDistribution([[0.5, 1.0, 2.0, 3.0, 4.0]], tail_shape=0.0, tail_scale=0.2)
    assert np.all(dist.sf(np.array([10.0, 20.0, 40.0])) > 0)
    assert float(dist.expected_excess(30.0)) > 0
    # the AVAV case: strikes far outside q90 still lose with positive probability
    assert float(dist.prob_loss(credit=0.3, put_distance=12.0, call_distance=12.0)) > 0
    # a condor whose wings are narrower than the credit cannot lose
    assert float(dist.prob_loss(credit=1.0, put_distance=6.0, call_distance=6.0, put_width=0.5, call_width=0.5)) == 0


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_payoff_integrals_agree_with_monte_carlo_of_its_own_samples(seed: int) -> None:
    quantiles, shape, scale = random_quantiles(seed)
    shape = np.minimum(shape, 0.3)  # finite variance, so the Monte Carlo error is bounded
    dist = MoveDistribution(quantiles, shape, scale)
    draws = dist.sample(100_000, rng=seed)[:, 0]
    q = dist.quantiles[0]
    spread = draws.std() / np.sqrt(len(draws))
    assert float(dist.mean()) == pytest.approx(draws.mean(), abs=5 * spread)
    for k in (0.0, q[1], q[2], q[4], 1.5 * q[4]):
        payout = np.maximum(draws - k, 0.0)
        assert float(dist.expected_excess(k)) == pytest.approx(payout.mean(), abs=5 * payout.std() / 316 + 1e-9)
        width = 0.5 * q[4]
        capped = np.minimum(payout, width)
        assert float(dist.expected_excess(k, width)) == pytest.approx(capped.mean(), abs=5 * capped.std() / 316 + 1e-9)
    signed = dist.sample(100_000, rng=seed + 1, p_up=0.7)[:, 0]
    put_k, call_k, wing = q[3], q[4], 0.8 * q[4]
    payout = np.minimum(np.maximum(-signed - put_k, 0), wing) + np.maximum(signed - call_k, 0)
    model = dist.structure_payout(put_k, call_k, put_width=wing, p_up=0.7)
    assert float(model) == pytest.approx(payout.mean(), abs=5 * payout.std() / 316)
    credit = 0.05 * q[4]
    lost = (payout > credit).mean()
    assert float(dist.prob_loss(credit, put_k, call_k, put_width=wing, p_up=0.7)) == pytest.approx(lost, abs=0.005)


def test_mean_is_the_integral_of_the_exceedance() -> None:
    dist = MoveDistribution([[1.0, 2.0, 3.5, 6.0, 10.0]], tail_shape=0.2, tail_scale=0.4)
    xs = np.linspace(0, 400, 400_001)
    assert float(dist.mean()) == pytest.approx(np.trapezoid(dist.sf(xs), xs), rel=1e-4)
    pdf_mass = np.trapezoid(dist.pdf(xs), xs)
    assert pdf_mass == pytest.approx(float(dist.cdf(400.0)), abs=1e-5)


def test_shapes_follow_scipy_broadcasting_and_nan_rows_stay_nan() -> None:
    quantiles = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [np.nan, 1.0, 2.0, 3.0, 4.0], [0.2, 0.4, 1, 2, 3]])
    dist = MoveDistribution(quantiles)
    assert dist.sf(np.array([1.0, 2.0, 3.0])).shape == (3,)
    assert dist.sf(np.ones((7, 1))).shape == (7, 3)
    assert np.isnan(dist.sf(2.0)[1]) and not np.isnan(dist.sf(2.0)[[0, 2]]).any()
    assert np.isnan(dist.expected_excess(1.0)[1])
    single = dist.take(0)
    assert single.sf(np.linspace(0, 9, 11)).shape == (11,)
    assert single.expected_excess(np.array([1.0, 2.0]), np.array([1.0, 1.0])).shape == (2,)
    assert dist.sample(10, rng=1).shape == (10, 3)
    scalar = single.sf(2.0)
    assert np.ndim(scalar) == 0 and f"{scalar:.0%}" == f"{float(scalar):.0%}"  # formats like a float (serving)


def test_from_frame_reads_quantile_and_tail_columns() -> None:
    import pandas as pd

    frame = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 5.0, 0.2, 0.3]], columns=[*QUANTILE_NAMES, "tail_shape", "tail_scale"])
    dist = MoveDistribution.from_frame(frame)
    assert dist.tail_shape[0] == 0.2 and dist.tail_scale[0] == 0.3
    assert np.allclose(dist.quantiles, [[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert MoveDistribution.from_frame(frame[list(QUANTILE_NAMES)], tail_shape=0.0).tail_shape[0] == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_quantiles_of_many_events_are_each_events_own_float_for_float(seed: int) -> None:
    """`ppf_each` (the events' Newton steps on one array, each event stopping on its own) gives every event's
    one-event `ppf`: with ties, zero and tiny quantiles, an invalid row, levels outside [0, 1] or missing."""
    quantiles, shapes, scales = random_quantiles(seed, 30)
    quantiles[::9] *= 1e-7
    quantiles[4, 2], quantiles[5] = np.nan, 0.0
    levels = np.concatenate([np.random.default_rng(seed).random(60), [0.0, 0.1, 0.9, 0.95, 1.0, np.nan, -0.5, 1.5]])
    many = MoveDistribution(quantiles, shapes, scales).ppf_each(levels)
    for i in range(len(quantiles)):
        alone = np.asarray(MoveDistribution(quantiles[i], shapes[i], scales[i]).ppf(levels))
        assert many[i].tobytes() == alone.tobytes(), i


@pytest.mark.parametrize("shape", [0.0, -0.0, 0.125, 0.6])
def test_quantiles_of_many_events_sharing_a_tail_shape_are_each_events_own(shape: float) -> None:
    """`ppf_each` where every event has the same tail shape (a calibration's: its tail computed once for all the
    events) gives every event's one-event `ppf`; a zero shape's sign as the events' own."""
    quantiles, _, scales = random_quantiles(7, 20)
    shapes = np.full(20, shape)
    shapes[::3] = -shape if shape == 0.0 else shape
    levels = np.concatenate([np.random.default_rng(7).random(40), [0.9, 0.95, 0.999, 1.0 - 1e-6, 1.0]])
    many = MoveDistribution(quantiles, shapes, scales).ppf_each(levels)
    for i in range(len(quantiles)):
        alone = np.asarray(MoveDistribution(quantiles[i], shapes[i], scales[i]).ppf(levels))
        assert many[i].tobytes() == alone.tobytes(), i


@given(
    quantiles=st.lists(
        st.one_of(st.floats(-1.0, 50.0), st.just(0.0), st.just(3.0), st.just(float("nan"))), min_size=5, max_size=5
    ),
    tail_shape=st.floats(-1.0, 2.0),
    tail_scale=st.floats(-1.0, 2.0),
)
def test_parameters_are_what_the_built_distribution_reports(
    quantiles: list[float], tail_shape: float, tail_scale: float
) -> None:
    """Ties, zeros, crossings, NaN, out-of-range tails: the same numbers as building the distribution gives."""
    built = MoveDistribution(quantiles, tail_shape, tail_scale)
    q, shape, scale = MoveDistribution.parameters(quantiles, tail_shape, tail_scale)
    np.testing.assert_array_equal(q, built.quantiles)
    np.testing.assert_array_equal(shape, built.tail_shape)
    np.testing.assert_array_equal(scale, built.tail_scale)


@given(
    quantiles=st.lists(
        st.lists(
            st.one_of(st.floats(0.0, 80.0), st.just(0.0), st.just(2.0), st.just(float("nan"))), min_size=5, max_size=5
        ),
        min_size=1,
        max_size=3,
    ),
    tail_shape=st.floats(0.0, 0.95),
    tail_scale=st.floats(0.0, 2.0),
)
def test_the_mean_is_the_expected_excess_over_zero_to_the_last_bit(
    quantiles: list[list[float]], tail_shape: float, tail_scale: float
) -> None:
    distribution = MoveDistribution(np.sort(quantiles, axis=1), tail_shape, tail_scale)
    expected = MoveDistribution(np.sort(quantiles, axis=1), tail_shape, tail_scale).expected_excess(0.0)
    np.testing.assert_array_equal(distribution.mean(), expected)
    assert np.shape(distribution.mean()) == np.shape(expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_one_event_parameters_on_floats_are_the_arrays_floats(seed: int) -> None:
    """One event's parameters (computed on Python floats) are, bit for bit, that event's row among others
    (numpy's arrays): ties, zeros of either sign, negative, tiny, huge and infinite quantiles, NaN, tail
    parameters at and beyond their bounds."""
    rng = np.random.default_rng(seed)
    quantiles, shapes, scales = random_quantiles(seed, 40)
    quantiles[::7] *= 1e-9
    quantiles[1:4, :2] = [[-0.0, 0.0], [-1.0, -0.0], [0.0, 0.0]]
    quantiles[5, 3], quantiles[6, 4], quantiles[7, 0], quantiles[8] = np.inf, np.nan, -np.inf, 1e300
    edges = [0.0, -0.0, -0.5, 0.9, 2.0, np.inf, -np.inf, np.nan, 1e-3, 1e-9, 7]
    shapes[: len(edges)] = rng.permutation(np.array(edges, dtype="float64"))
    scales[: len(edges)] = rng.permutation(np.array(edges, dtype="float64"))
    with np.errstate(all="ignore"):  # an infinite or huge quantile's segments
        batch = MoveDistribution.parameters(quantiles, shapes, scales)
        many = MoveDistribution(np.nan_to_num(quantiles, nan=1.0), shapes, scales)
    for i in range(len(quantiles)):
        shape, scale = (
            float(value)
            if i % 3
            else int(value)
            if np.isfinite(value) and value == int(value) and value
            else float(value)
            for value in (shapes[i], scales[i])
        )
        one = MoveDistribution.parameters(quantiles[i].tolist(), shape, scale)
        for got, want in zip(one, batch, strict=True):
            assert got[0].tobytes() == want[i].tobytes(), i
        with np.errstate(all="ignore"):
            alone = MoveDistribution(np.nan_to_num(quantiles[i], nan=1.0).tolist(), shape, scale)
        for name in ("valid", "knots", "tail_shape", "tail_scale", "_slopes", "_cum_sf"):
            assert getattr(alone, name)[0].tobytes() == getattr(many, name)[i].tobytes(), (i, name)

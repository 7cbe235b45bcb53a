"""The strategy's numbers are pinned: `decide` on 200 seeded random events (modelled and quoted credits,
with and without a direction, every preset) must reproduce, float for float, the decisions recorded in
tests/data/decide_reference.json by the straightforward per-leg implementation that preceded the batched
one. Regenerate only on purpose: `python -m tests.test_strategy_reference`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ivcrush.constants import TIER_PRESETS
from ivcrush.serving.market import MarketInputs
from ivcrush.serving.strategy import decide
from ivcrush.settings import Account, Costs
from ivcrush.training.distribution import MoveDistribution

REFERENCE = Path(__file__).parent / "data" / "decide_reference.json"
CASES = 200


def chain_of(spot: float, strikes: np.ndarray) -> pd.DataFrame:
    """A quoted chain of puts and calls at these strikes, mids falling away from spot."""
    rows = []
    for kind in ("put", "call"):
        for strike in strikes:
            mid = max(0.01, (strike - spot if kind == "call" else spot - strike) * -0.02 + spot * 0.01)
            rows.append({"strike": strike, "type": kind, "bid": mid * 0.95, "ask": mid * 1.05, "mid": mid})
    return pd.DataFrame(rows)


def _chain(rng: np.random.Generator, spot: float) -> pd.DataFrame:
    """A quoted chain of puts and calls around spot, sometimes too short to reach the wings."""
    return chain_of(spot, np.round(spot * np.linspace(0.6, 1.4 if rng.random() < 0.8 else 1.1, 33), 2))


def _cases() -> list[tuple[MoveDistribution, dict[str, object]]]:
    rng = np.random.default_rng(20261126)
    cases = []
    for _ in range(CASES):
        scale = rng.uniform(0.5, 15.0)
        quantiles = np.sort(scale * rng.uniform(0.05, 3.0, 5))
        distribution = MoveDistribution([quantiles], rng.uniform(0.0, 0.7), rng.uniform(0.1, 0.9))
        spot = float(rng.choice([3.7, 18.0, 47.5, 100.0, 163.2, 420.0]))
        quote_days = int(rng.integers(1, 7))
        market = MarketInputs(
            spot=spot,
            implied_total_pct=float(rng.uniform(1.0, 30.0)),
            quote_days=quote_days,
            decision_days=int(rng.integers(1, quote_days + 1)),
            ordinary_move_pct=float(rng.uniform(0.3, 3.0)),
            quotes=_chain(rng, spot) if rng.random() < 0.2 else None,
        )
        options = {
            "market": market,
            "prob_up": None if rng.random() < 0.6 else float(rng.uniform(0.2, 0.8)),
            "hist_mean_2_0_pct": None if rng.random() < 0.2 else float(rng.uniform(1.0, 12.0)),
            "preset": str(rng.choice(sorted(TIER_PRESETS))),
            "strike_quantile": float(rng.choice([0.75, 0.9])),
        }
        cases.append((distribution, options))
    return cases


def _decisions() -> list[dict[str, object]]:
    return [
        decide(distribution, account=Account(), costs=Costs(), **options).to_dict()  # type: ignore[arg-type]
        for distribution, options in _cases()
    ]


def _same(got: object, want: object) -> bool:
    if isinstance(want, float) and isinstance(got, float) and math.isnan(want):
        return math.isnan(got)
    return got == want


def test_decisions_match_the_reference_exactly() -> None:
    reference = json.loads(REFERENCE.read_text())
    decisions = json.loads(json.dumps(_decisions()))
    assert len(decisions) == len(reference) == CASES
    for i, (got, want) in enumerate(zip(decisions, reference, strict=True)):
        assert got.keys() == want.keys()
        different = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
        assert not different, f"case {i}: {different}"


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps(_decisions(), separators=(",", ":")) + "\n")

"""Facts that several layers use, declared once: the forecast's quantile levels and 2.0's VRP tiers."""

from __future__ import annotations

# The move-size models forecast these quantiles of |reaction-day close move|; every layer reads them here.
QUANTILE_LEVELS: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
QUANTILE_NAMES: tuple[str, ...] = tuple(f"q{round(level * 100)}" for level in QUANTILE_LEVELS)

# VRP ratio (implied move / forecast mean move) needed for each tier; "balanced" is 2.0's own rule.
TIER_PRESETS: dict[str, dict[str, float]] = {
    "conservative": {"excellent": 2.0, "good": 1.6, "marginal": 1.35},
    "balanced": {"excellent": 1.8, "good": 1.4, "marginal": 1.2},
    "aggressive": {"excellent": 1.5, "good": 1.25, "marginal": 1.1},
}
DEFAULT_PRESET = "balanced"

"""Benchmarks, run on demand: they print figures and ratios (no timed tests)."""

from pathlib import Path

# The real snapshot beside the checkout, the default input of the benchmarks.
SHARED_SNAPSHOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ivcrush.db"

"""Feast feature views: one per feature category, over the dbt marts of a build.

The fields are `feature_names.FEATURE_NAMES` (Feast-free) with their Feast types. Feature rows are
stamped with the event's decision time; TTL covers a quarter and its slack, so a row is never joined to an
event more than one earnings cycle later.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import FeatureView, Field
from feast.types import Array, Float64, Int64, String

from ivcrush.feature_repo.data_sources import mart_source, packed_source
from ivcrush.feature_repo.entities import ticker
from ivcrush.feature_repo.feature_names import FEATURE_NAMES
from ivcrush.feature_repo.packed import PACKED_SOURCE_FILE, PACKED_VALUES, PACKED_VIEW, packed_layout

QUARTERLY_TTL = timedelta(days=120)
_FEAST_TYPES = {"float": Float64, "int": Int64, "string": String}

FEATURE_FIELDS: dict[str, list[Field]] = {
    view: [Field(name=name, dtype=_FEAST_TYPES[kind]) for name, kind in features]
    for view, features in FEATURE_NAMES.items()
}

DESCRIPTIONS = {
    "historical_move_features": "Last 1/2/4/8/12 trusted earnings moves of the ticker: mean, median, std, min, max.",
    "volatility_features": (
        "How the ticker trades through earnings: range/gap vs close, volume surge, direction; realised volatility,"
        " ATR, gaps and pre-event drift from daily prices where the market store has them."
    ),
    "market_regime_features": (
        "All tickers' earnings moves in the trailing 30/90 days (means, share above 5%); earnings-season position;"
        " index trend and VIX level/percentile where the market store has SPY and ^VIX."
    ),
    "calendar_features": "Timing, weekday/month/quarter, days since the last event, history length.",
    "options_features": (
        "2.0's latest pre-earnings scan: implied move, straddle, historical mean, VRP; the market store's front ATM"
        " straddle and its earnings-only part where it has option quotes."
    ),
}


def feature_views(marts_dir: Path) -> list[FeatureView]:
    """One feature view per category over the marts in `marts_dir`."""
    return [
        FeatureView(
            name=mart,
            entities=[ticker],
            ttl=QUARTERLY_TTL,
            schema=fields,
            source=mart_source(marts_dir, mart),
            online=True,
            description=DESCRIPTIONS[mart],
        )
        for mart, fields in FEATURE_FIELDS.items()
    ]


def packed_view(generation_dir: Path) -> FeatureView:
    """The packed view of a generation (`packed.py`): its source in the generation's folder, the same entity and
    TTL as the per-feature views; online only (training reads the per-feature views). The schema names the
    entity column, so that Feast infers nothing from a source written after apply (by the online loading)."""
    return FeatureView(
        name=PACKED_VIEW,
        entities=[ticker],
        ttl=QUARTERLY_TTL,
        schema=[
            Field(name=ticker.join_key, dtype=String),
            *(Field(name=name, dtype=String) for name in packed_layout()["texts"]),
            Field(name=PACKED_VALUES, dtype=Array(Float64)),
        ],
        source=packed_source(Path(generation_dir) / PACKED_SOURCE_FILE),
        online=True,
        description="Every feature serving reads, one online row per ticker (numbers in one array; the strings).",
    )

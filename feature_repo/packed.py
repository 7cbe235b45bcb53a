"""The packed feature view: one online row per ticker holding every feature that serving reads.

Feast's online layout is one row per (entity, feature): a scan of 100 tickers reads 12,800 rows. The packed view
holds the same features in one Feast `Array(Float64)` feature (`PACKED_VALUES`: every numeric feature of the
serving feature service, in the order `packed_layout` records in the generation; ints are exact as doubles, a
missing value is NaN) and the service's string features, plus the event check's `event_id`, as plain String
features of their own (a string has no exact double). Its offline source is written from the same marts of the
same build (`packed_source`: the same `event_timestamp` rows) into the generation's folder by the online loading,
and Feast's own materialization loads it beside the per-feature views with the same TTL: a ticker's packed row is
the record the per-feature views give for it. Training reads the per-feature views; the layout derives from
`MODEL_FEATURES`.
Imports no Feast (nor pyarrow: serving reads the layout).
"""

from __future__ import annotations

from typing import Any

from ivcrush.feature_repo.feature_names import FEATURE_NAMES, FEATURE_SERVICE_NAME, MODEL_FEATURES

PACKED_VIEW = f"{FEATURE_SERVICE_NAME}_packed"
PACKED_VALUES = "values"  # the Array(Float64) feature of the packed view
PACKED_SOURCE_FILE = "packed_features.parquet"  # in the generation's folder
EVENT_CHECK = ("calendar_features", "event_id")  # the feature serving checks a row's event by


def served_features() -> dict[str, list[str]]:
    """{view: [feature]} that serving reads: the feature service's features and the event check's."""
    views = {view: list(names) for view, names in MODEL_FEATURES.items()}
    view, feature = EVENT_CHECK
    if feature not in views.setdefault(view, []):
        views[view].append(feature)
    return views


def packed_layout() -> dict[str, Any]:
    """The packed view as a generation records it: its name, its array feature and the features the array holds
    (in order), and its plain features (the strings)."""
    kinds = {name: kind for features in FEATURE_NAMES.values() for name, kind in features}
    names = [name for names in served_features().values() for name in names]
    return {
        "view": PACKED_VIEW,
        "values": PACKED_VALUES,
        "numbers": [name for name in names if kinds[name] != "string"],
        "texts": [name for name in names if kinds[name] == "string"],
    }

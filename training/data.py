"""Point-in-time training sets from Feast: past events (entity = ticker at its decision time) + labels.

Features come only through the model's feature service from the offline store (DuckDB over the build's
Parquet marts); labels are joined afterwards on (ticker, event_timestamp), so an event's outcome can never
be among its own features. Everything comes from one published generation and the build it was made from
(never the workspace's `current` build, which a later `ivcrush build` may already have moved).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from ivcrush import progress
from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.feature_names import FEATURE_SERVICE_NAME, MODEL_FEATURE_COLUMNS
from ivcrush.feature_repo.store import open_published_store
from ivcrush.settings import Settings
from ivcrush.workspace import Generation, mart_path, published

KEYS = ["ticker", "event_timestamp"]
LABEL_COLUMNS = [
    "event_id",
    "earnings_date",
    "reaction_date",
    "outcome_known_at",
    "timing",
    "label_trusted",
    "abs_close_move_pct",
    "signed_close_move_pct",
    "abs_gap_move_pct",
    "intraday_range_pct",
    "moved_up",
]


class DatasetError(IvcrushError):
    """The training set could not be built as promised (rows dropped or duplicated)."""


def past_events(build_dir: Path) -> pd.DataFrame:
    """Entity rows of every past event with an outcome, and its labels."""
    labels = pd.read_parquet(mart_path(build_dir, "event_labels"))
    return labels[KEYS + LABEL_COLUMNS].sort_values(KEYS).reset_index(drop=True)


def training_set(settings: Settings, trusted_only: bool = False, generation: Generation | None = None) -> pd.DataFrame:
    """Features of every past event as of its decision time (from Feast), with its labels.

    `generation`: the published generation the caller resolved for its whole run (else resolved here).
    """
    generation = generation or published(settings)
    events = past_events(Path(generation.build_dir))
    if trusted_only:
        events = events[events["label_trusted"]]
    store = open_published_store(settings, generation)
    service = store.get_feature_service(generation.feature_service or FEATURE_SERVICE_NAME)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ibis warns on every query with duckdb 1.5
        progress.step("retrieving the point-in-time training set (Feast)")
        features = store.get_historical_features(entity_df=events[KEYS], features=service).to_df()
    joined = events.merge(features, on=KEYS, how="left", validate="one_to_one", indicator=True)
    if len(features) != len(events) or (joined["_merge"] != "both").any():
        raise DatasetError(
            f"Feast returned {len(features)} rows for {len(events)} events; a training set must keep every event"
        )
    return joined.drop(columns="_merge")[KEYS + LABEL_COLUMNS[:] + MODEL_FEATURE_COLUMNS]

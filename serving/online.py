"""Online features for upcoming earnings events, read from Feast's online store through the model's
feature service. Each row is checked to describe the requested event, not an older one.

Everything here reads one published generation, given by the caller (resolved once per request): its
build's calendar and its online store, never the workspace's `current` build.
"""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path

import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.store import generation_redis_url, online_store_errors, open_published_store
from ivcrush.settings import Settings
from ivcrush.workspace import Generation, mart_path, published

EVENT_ID_REF = "calendar_features:event_id"


class ServingError(IvcrushError):
    """The online store cannot serve the request as asked; the message says what to do."""


def calendar_events(generation: Generation) -> pd.DataFrame:
    """Every event (past and upcoming) of the generation's build."""
    return pd.read_parquet(mart_path(Path(generation.build_dir), "earnings_events"))


def newest_outcome(generation: Generation) -> pd.Timestamp | None:
    """When the newest stored outcome of the generation's build became known (None without any)."""
    labels = pd.read_parquet(mart_path(Path(generation.build_dir), "event_labels"), columns=["outcome_known_at"])
    newest = pd.to_datetime(labels["outcome_known_at"], utc=True).max()
    return None if pd.isna(newest) else newest


def events_on(generation: Generation, earnings_date: date) -> pd.DataFrame:
    """The calendar's events with this earnings date in the generation's build; ServingError where none."""
    events = calendar_events(generation)
    chosen = events[pd.to_datetime(events["earnings_date"]).dt.date == earnings_date]
    if chosen.empty:
        raise ServingError(f"no calendar event on {earnings_date}")
    return chosen.sort_values("ticker").reset_index(drop=True)


def online_features(settings: Settings, generation: Generation, events: pd.DataFrame) -> pd.DataFrame:
    """The feature service's online values for each event (ticker), verified to belong to that event."""
    store = open_published_store(settings, generation)
    service = store.get_feature_service(generation.feature_service)
    refs = [f"{view.name}:{feature.name}" for view in service.feature_view_projections for feature in view.features]
    with (
        warnings.catch_warnings(),
        online_store_errors(generation.online_store, generation_redis_url(settings, generation)),
    ):
        warnings.simplefilter("ignore")
        served = store.get_online_features(
            features=[*refs, EVENT_ID_REF], entity_rows=[{"ticker": t} for t in events["ticker"]]
        ).to_df()
    served = served.rename(columns={"event_id": "served_event_id"})
    joined = events[["event_id", "ticker", "earnings_date", "timing", "event_timestamp"]].merge(
        served, on="ticker", how="left"
    )
    stale = joined[joined["served_event_id"] != joined["event_id"]]
    if not stale.empty:
        examples = ", ".join(
            f"{row.ticker} serves {row.served_event_id} not {row.event_id}" for row in stale.head(3).itertuples()
        )
        raise ServingError(
            f"the online store (materialized as of {generation.as_of}) does not hold {len(stale)} of these "
            f"events ({examples}); run `ivcrush materialize --as-of <the events' date>`"
        )
    return joined.drop(columns="served_event_id")


def online_features_on(settings: Settings, earnings_date: date) -> pd.DataFrame:
    """The online features of the calendar's events on a date, all read from one published generation."""
    generation = published(settings)
    return online_features(settings, generation, events_on(generation, earnings_date))

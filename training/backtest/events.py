"""The events dataset of the backtests: the published training set with the decision-time spot, and the
point-in-time filters (outcomes known before a moment, dates in a range)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ivcrush.settings import Settings
from ivcrush.workspace import Generation, mart_path

NEW_YORK = "America/New_York"


def load_events(settings: Settings, generation: Generation, trusted_only: bool = False) -> pd.DataFrame:
    """The generation's Feast training set (point-in-time features + labels) with `prev_close` (from the
    generation's build) and `decision_spot` added."""
    from ivcrush.training.data import training_set

    events = training_set(settings, trusted_only=trusted_only, generation=generation)
    labels = pd.read_parquet(mart_path(Path(generation.build_dir), "event_labels"), columns=["event_id", "prev_close"])
    return add_decision_spot(events.merge(labels, on="event_id", how="left", validate="many_to_one"))


def add_decision_spot(events: pd.DataFrame) -> pd.DataFrame:
    """`decision_spot`: the close at decision time, the reference for strike distances.

    `prev_close` of a BMO/DMH event is the close before the earnings day, which is the decision day. An AMC
    row that 2.0 stored on the announcement day (untrusted label) has the close before the announcement as
    prev_close; the decision-time close is that day's close = prev_close x (1 + signed move / 100), known at
    the 16:00 decision. A trusted AMC row (database collected on the reaction day) already has it as prev_close.
    """
    out = events.copy()
    out["earnings_date"] = pd.to_datetime(out["earnings_date"])
    spot = out["prev_close"].astype(float)
    announcement_row = out["timing"].eq("AMC") & ~out["label_trusted"].astype(bool)
    moved = spot * (1 + out["signed_close_move_pct"].astype(float) / 100)
    out["decision_spot"] = spot.where(~announcement_row, moved)
    return out


def close_utc(day: pd.Timestamp) -> pd.Timestamp:
    """16:00 New York on `day`, in UTC."""
    return (pd.Timestamp(day).normalize() + pd.Timedelta(hours=16)).tz_localize(NEW_YORK).tz_convert("UTC")


def known_before(events: pd.DataFrame, moment: pd.Timestamp, trusted_only: bool) -> pd.DataFrame:
    known = events[(events["outcome_known_at"] < moment) & events["abs_close_move_pct"].notna()]
    return known[known["label_trusted"].astype(bool)] if trusted_only else known


def in_date_range(dates: pd.Series, date_from: object, date_to: object) -> pd.Series:
    dates = pd.to_datetime(dates)
    keep = pd.Series(True, index=dates.index)
    if date_from is not None:
        keep &= dates >= pd.Timestamp(date_from)
    if date_to is not None:
        keep &= dates <= pd.Timestamp(date_to)
    return keep

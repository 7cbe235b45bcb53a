"""The events of the backtests, read from a build's marts (no training set, no Feast): each event's labels,
2.0's historical mean and 2.0's latest pre-decision scan (its market implied move), with the decision-time
spot; and the date-range filter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ivcrush.workspace import mart_path

NEW_YORK = "America/New_York"
LABEL_COLUMNS = [
    "event_id",
    "ticker",
    "earnings_date",
    "reaction_date",
    "event_timestamp",
    "outcome_known_at",
    "timing",
    "label_trusted",
    "abs_close_move_pct",
    "signed_close_move_pct",
    "prev_close",
]
HISTORY_COLUMNS = ["event_id", "hm_prior_events", "hm_close_mean_12q_all_rows"]
SCAN_COLUMNS = ["event_id", "opt_implied_move_pct", "opt_inputs_known_at", "opt_quote_implied_move_pct"]


def event_frame(build_dir: Path) -> pd.DataFrame:
    """One row per labelled event of the build (`event_labels`), with 2.0's all-rows mean
    (`historical_move_features`, known before the decision), 2.0's latest scan before the decision
    (`options_features`: `opt_implied_move_pct`, NaN where 2.0 never scanned it), the market store's quoted
    straddle before the decision (`opt_quote_implied_move_pct`, NaN without quotes) and `decision_spot`."""
    build_dir = Path(build_dir)
    labels = pd.read_parquet(mart_path(build_dir, "event_labels"), columns=LABEL_COLUMNS)
    history = pd.read_parquet(mart_path(build_dir, "historical_move_features"), columns=HISTORY_COLUMNS)
    scans = pd.read_parquet(mart_path(build_dir, "options_features"), columns=SCAN_COLUMNS)
    events = labels.merge(history, on="event_id", how="left", validate="one_to_one")
    events = events.merge(scans, on="event_id", how="left", validate="one_to_one")
    events = events[events["abs_close_move_pct"].notna()]
    for column in ("event_timestamp", "outcome_known_at"):
        events[column] = pd.to_datetime(events[column], utc=True)
    events["reaction_date"] = pd.to_datetime(events["reaction_date"])
    return add_decision_spot(events).reset_index(drop=True)


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


def decision_day(event_timestamp: pd.Series) -> pd.Series:
    """The New York calendar day of each decision time."""
    return pd.to_datetime(event_timestamp, utc=True).dt.tz_convert(NEW_YORK).dt.tz_localize(None).dt.normalize()


def in_date_range(dates: pd.Series, date_from: object, date_to: object) -> pd.Series:
    dates = pd.to_datetime(dates)
    keep = pd.Series(True, index=dates.index)
    if date_from is not None:
        keep &= dates >= pd.Timestamp(date_from)
    if date_to is not None:
        keep &= dates <= pd.Timestamp(date_to)
    return keep

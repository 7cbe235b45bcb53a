"""The marts suite: Great Expectations over a build's Parquet marts and labels.

One row per event, keys present, every mart's events those of earnings_events, labels for exactly the events
with an outcome, history features present wherever there is history, moves and rates within their ranges.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ivcrush.quality.gx import Spec, ephemeral_context, import_gx, run_suite
from ivcrush.quality.report import QualityReport, check_overrides
from ivcrush.source.schema import TIMINGS
from ivcrush.workspace import MARTS, mart_path

ABS_MOVE_MAX = 300.0  # absolute moves and ranges in percent lie in [0, ABS_MOVE_MAX)
# A BMO row's stored close move and the one the market store's prices give agree within this many points.
STORED_VS_PRICE_TOLERANCE_PP = 0.05
_ABS_MOVE_COLUMN = re.compile(
    r"^(abs_.*_pct|intraday_range_pct|hm_(close|gap|intraday)_(last|mean|median|std|min|max)(_\w+)?"
    r"|vol_off_reaction_(abs_move|range)_mean_\w+|mkt_mean_abs_move_\w+|opt_implied_move_pct|opt_hist_mean_pct_2_0)$"
)
_RATE_COLUMN = re.compile(
    r"^(.*_rate(_\w+)?|.*_share(_\w+)?|.*_prob(ability)?(_\w+)?|mkt_season_intensity|cal_is_\w+)$"
)
# Features that exist wherever the ticker has a usable prior event (hm_prior_events > 0).
_HISTORY_COLUMNS = {
    "historical_move_features": ["hm_close_last", "hm_close_mean_12q", "hm_gap_last", "hm_intraday_last"],
    "volatility_features": ["vol_up_rate_8q", "vol_log_price_last"],  # range/gap-to-close: NULL where moves are 0
}
_KEY_COLUMNS = ("event_id", "ticker", "event_timestamp")


def _read_marts(build_dir: Path) -> dict[str, pd.DataFrame]:
    """Every mart of the build as a frame; a missing one is an error."""
    frames = {}
    for mart in MARTS:
        path = mart_path(build_dir, mart)
        if not path.is_file():
            raise FileNotFoundError(f"build {build_dir}: mart {mart} missing ({path})")
        frames[mart] = pd.read_parquet(path)
    return frames


def _mart_specs(mart: str, frame: pd.DataFrame, events: pd.DataFrame) -> list[Spec]:
    """The expectations for one mart, given its columns and the events of earnings_events."""
    gxe = import_gx().expectations
    from great_expectations.expectations.row_conditions import Column

    specs = [
        Spec(
            "mart_columns",
            mart,
            None,
            gxe.ExpectTableColumnsToMatchSet(column_set=["event_id"], exact_match=False),
            "event_id column missing",
        ),
        Spec(
            "mart_one_row_per_event",
            mart,
            "event_id",
            gxe.ExpectColumnValuesToBeUnique(column="event_id"),
            "row(s) share an event_id with another row",
        ),
    ]
    for key in _KEY_COLUMNS:
        if key in frame.columns:
            specs.append(
                Spec(
                    "mart_keys_not_null",
                    mart,
                    key,
                    gxe.ExpectColumnValuesToNotBeNull(column=key),
                    f"row(s) with NULL {key}",
                )
            )
    if mart == "event_labels":
        n_outcome = int(events["has_outcome"].sum())
        specs += [
            Spec(
                "labels_match_events",
                mart,
                None,
                gxe.ExpectTableRowCountToEqual(value=n_outcome),
                f"label rows differ from the {n_outcome} events with has_outcome",
            ),
            Spec(
                "labels_match_events",
                mart,
                "event_id",
                gxe.ExpectColumnValuesToBeInSet(column="_event_has_outcome", value_set=[True]),
                "label row(s) of an event without has_outcome (or unknown to earnings_events)",
            ),
        ]
        if "_bmo_stored_minus_price_pp" in frame.columns:
            specs.append(
                Spec(
                    "stored_moves_agree_with_prices",
                    mart,
                    "stored_signed_close_move_pct",
                    gxe.ExpectColumnValuesToBeBetween(
                        column="_bmo_stored_minus_price_pp", max_value=STORED_VS_PRICE_TOLERANCE_PP
                    ),
                    f"BMO row(s) whose stored close move differs from the market store's prices by more than "
                    f"{STORED_VS_PRICE_TOLERANCE_PP} points",
                )
            )
    elif mart != "earnings_events":
        specs += [
            Spec(
                "mart_event_ids_match",
                mart,
                None,
                gxe.ExpectTableRowCountToEqual(value=len(events)),
                f"row count differs from the {len(events)} rows of earnings_events",
            ),
            Spec(
                "mart_event_ids_match",
                mart,
                "event_id",
                gxe.ExpectColumnValuesToBeInSet(column="_event_known", value_set=[True]),
                "row(s) with an event_id that earnings_events does not have",
            ),
        ]
    if "timing" in frame.columns and mart == "earnings_events":
        specs.append(
            Spec(
                "event_timing_values",
                mart,
                "timing",
                gxe.ExpectColumnValuesToBeInSet(column="timing", value_set=list(TIMINGS)),
                "row(s) with an unknown timing",
            )
        )
    if "hm_prior_events" in frame.columns or mart in _HISTORY_COLUMNS:
        for column in _HISTORY_COLUMNS.get(mart, []):
            if column in frame.columns:
                specs.append(
                    Spec(
                        "history_features_present",
                        mart,
                        column,
                        gxe.ExpectColumnValuesToNotBeNull(column=column, row_condition=Column("hm_prior_events") > 0),
                        f"row(s) with NULL {column} although hm_prior_events > 0",
                    )
                )
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            continue
        if _ABS_MOVE_COLUMN.match(column):
            specs.append(
                Spec(
                    "abs_move_range",
                    mart,
                    column,
                    gxe.ExpectColumnValuesToBeBetween(
                        column=column, min_value=0, max_value=ABS_MOVE_MAX, strict_max=True
                    ),
                    f"row(s) with {column} outside [0, {ABS_MOVE_MAX:.0f})",
                )
            )
        elif _RATE_COLUMN.match(column):
            specs.append(
                Spec(
                    "rate_range",
                    mart,
                    column,
                    gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1),
                    f"row(s) with {column} outside [0, 1]",
                )
            )
    return specs


def check_marts(build_dir: Path, *, severity: dict[str, str] | None = None) -> QualityReport:
    """Check a build's Parquet marts: one row per event, no missing history features, ranges, label counts."""
    check_overrides(severity)
    build_dir = Path(build_dir)
    frames = _read_marts(build_dir)
    events = frames["earnings_events"]
    known = set(events["event_id"])
    with_outcome = set(events.loc[events["has_outcome"].astype(bool), "event_id"])
    history = frames["historical_move_features"].set_index("event_id")["hm_prior_events"]

    context = ephemeral_context()
    datasource = context.data_sources.add_pandas("marts")
    batches = []
    for mart, frame in frames.items():
        data = frame.reset_index(drop=True)
        data["_event_known"] = data["event_id"].isin(known)
        data["_event_has_outcome"] = data["event_id"].isin(with_outcome)
        if {"stored_signed_close_move_pct", "price_signed_close_move_pct"} <= set(data.columns):
            difference = (data["stored_signed_close_move_pct"] - data["price_signed_close_move_pct"]).abs()
            data["_bmo_stored_minus_price_pp"] = difference.where(data["timing"] == "BMO")
        if "hm_prior_events" not in data.columns and mart in _HISTORY_COLUMNS:
            data["hm_prior_events"] = data["event_id"].map(history).fillna(0)
        for column in data.columns:  # GE's pandas backend wants plain datetimes in its renderers
            if isinstance(data[column].dtype, pd.DatetimeTZDtype):
                data[column] = data[column].dt.tz_convert("UTC").dt.tz_localize(None)
        asset = datasource.add_dataframe_asset(mart)
        batches.append(
            (
                asset.add_batch_definition_whole_dataframe("all rows"),
                {"dataframe": data},
                _mart_specs(mart, data, events),
                ["event_id"],
            )
        )
    checks = run_suite(context, "marts", batches, severity)
    return QualityReport(checks, [("marts", context)])

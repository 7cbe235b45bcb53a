"""The marts suite: Great Expectations over a build's Parquet marts and labels.

One row per event, keys present, every mart's events those of earnings_events, labels for exactly the events
with an outcome, history features present wherever there is history, moves and rates within their ranges.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ivcrush.quality.gx import Spec, ephemeral_context, import_gx, run_suite
from ivcrush.quality.report import CheckResult, QualityReport, check_overrides
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
# The marts whose rows a mart's expectations compare it with: earnings_events' events, and for this one also
# the prior events of historical_move_features.
_COMPARED_WITH = {"volatility_features": ("earnings_events", "historical_move_features")}


def _read_mart(build_dir: Path, mart: str) -> pd.DataFrame:
    """One mart of the build as a frame; a missing one is an error."""
    path = mart_path(build_dir, mart)
    if not path.is_file():
        raise FileNotFoundError(f"build {build_dir}: mart {mart} missing ({path})")
    return pd.read_parquet(path)


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


class MartSuite:
    """The marts suite, one mart at a time as they are written (a build checks each while dbt writes the
    others): `read(mart)`, `check_ready()`, then `finish()` for the report. A mart is checked once the marts
    its expectations compare it with are read: earnings_events (the events), historical_move_features (the
    prior events of volatility_features)."""

    def __init__(self, build_dir: Path, severity: dict[str, str] | None = None) -> None:
        check_overrides(severity)
        self._build_dir = Path(build_dir)
        self._severity = severity
        self._context = ephemeral_context()
        self._datasource = self._context.data_sources.add_pandas("marts")
        self._frames: dict[str, pd.DataFrame] = {}
        self._checks: dict[str, list[CheckResult]] = {}

    def read(self, mart: str) -> None:
        """Read a written mart (once)."""
        if mart not in self._frames:
            self._frames[mart] = _read_mart(self._build_dir, mart)

    def check_ready(self) -> None:
        """Check every read mart not checked yet whose compared marts are read."""
        for mart in MARTS:
            needs = _COMPARED_WITH.get(mart, ("earnings_events",))
            if mart in self._frames and mart not in self._checks and all(m in self._frames for m in needs):
                self._checks[mart] = self._check(mart)

    def finish(self) -> QualityReport:
        """Read and check the marts not done yet; the report, in the order of MARTS."""
        for mart in MARTS:
            self.read(mart)
        self.check_ready()
        return QualityReport([c for mart in MARTS for c in self._checks[mart]], [("marts", self._context)])

    def _check(self, mart: str) -> list[CheckResult]:
        events = self._frames["earnings_events"]
        data = self._frames[mart].reset_index(drop=True)
        data["_event_known"] = data["event_id"].isin(set(events["event_id"]))
        data["_event_has_outcome"] = data["event_id"].isin(
            set(events.loc[events["has_outcome"].astype(bool), "event_id"])
        )
        if {"stored_signed_close_move_pct", "price_signed_close_move_pct"} <= set(data.columns):
            difference = (data["stored_signed_close_move_pct"] - data["price_signed_close_move_pct"]).abs()
            data["_bmo_stored_minus_price_pp"] = difference.where(data["timing"] == "BMO")
        if "hm_prior_events" not in data.columns and mart in _HISTORY_COLUMNS:
            history = self._frames["historical_move_features"].set_index("event_id")["hm_prior_events"]
            data["hm_prior_events"] = data["event_id"].map(history).fillna(0)
        for column in data.columns:  # GE's pandas backend wants plain datetimes in its renderers
            if isinstance(data[column].dtype, pd.DatetimeTZDtype):
                data[column] = data[column].dt.tz_convert("UTC").dt.tz_localize(None)
        batch = self._datasource.add_dataframe_asset(mart).add_batch_definition_whole_dataframe("all rows")
        specs = _mart_specs(mart, data, events)
        return run_suite(self._context, "marts", [(batch, {"dataframe": data}, specs, ["event_id"])], self._severity)


def check_marts(build_dir: Path, *, severity: dict[str, str] | None = None) -> QualityReport:
    """Check a build's Parquet marts: one row per event, no missing history features, ranges, label counts."""
    suite = MartSuite(build_dir, severity)
    for mart in MARTS:
        suite.read(mart)
    return suite.finish()

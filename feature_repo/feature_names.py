"""The features by name and kind, one list per feature view: what the Feast views are built from
(`features.py`) and what a model reads (`MODEL_FEATURE_COLUMNS`). Imports no Feast, so reading a model or
serving needs no Feast import. The lists mirror the dbt marts (a test checks them against the Parquet schema).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["float", "int", "string"]

HISTORY_WINDOWS = (2, 4, 8, 12)
HISTORY_MEASURES = ("close", "gap", "intraday")
HISTORY_STATISTICS = ("mean", "median", "std", "min", "max")
# From the workspace's market store (daily prices, SPY, ^VIX): NULL for every event where it has none.
PRICE_VOLATILITY_FEATURES = (
    "vol_realized_10d_pct",
    "vol_realized_20d_pct",
    "vol_realized_60d_pct",
    "vol_atr_14d_pct",
    "vol_gap_abs_mean_20d_pct",
    "vol_gap_abs_max_60d_pct",
    "vol_drift_5d_pct",
    "vol_drift_20d_pct",
)
PRICE_MARKET_FEATURES = (
    "mkt_index_return_20d_pct",
    "mkt_index_return_60d_pct",
    "mkt_index_vs_ma50_pct",
    "mkt_index_realized_20d_pct",
    "mkt_vix_level",
    "mkt_vix_change_5d_pct",
    "mkt_vix_percentile_252d",
)
# From the market store's option quotes (front ATM straddle, term structure): NULL where it has none.
QUOTE_FEATURES = (
    "opt_quote_implied_move_pct",
    "opt_quote_earnings_move_pct",
    "opt_quote_ordinary_move_pct",
    "opt_quote_spot",
)
PRICE_FEATURES = PRICE_VOLATILITY_FEATURES + PRICE_MARKET_FEATURES
QUOTE_COUNT_FEATURES = ("opt_quote_trading_days", "opt_quote_expiration_days")
# Every feature the workspace's market store feeds: without it, exactly the features of a build without prices.
MARKET_STORE_FEATURES = PRICE_FEATURES + QUOTE_FEATURES + QUOTE_COUNT_FEATURES


def _history_features() -> list[tuple[str, Kind]]:
    features: list[tuple[str, Kind]] = [("hm_prior_events", "int"), ("hm_prior_events_all_rows", "int")]
    for measure in HISTORY_MEASURES:
        features.append((f"hm_{measure}_last", "float"))
        features += [
            (f"hm_{measure}_{statistic}_{window}q", "float")
            for window in HISTORY_WINDOWS
            for statistic in HISTORY_STATISTICS
        ]
    names = (
        "hm_close_trend_8q",
        "hm_close_tail_ratio_12q",
        "hm_close_cv_12q",
        "hm_close_mean_12q_all_rows",
        "hm_close_median_8q_all_rows",
        "hm_intraday_mean_12q_all_rows",
    )
    return features + [(name, "float") for name in names]


FEATURE_NAMES: dict[str, list[tuple[str, Kind]]] = {
    "historical_move_features": _history_features(),
    "volatility_features": [
        (name, "float")
        for name in (
            "vol_range_to_close_8q",
            "vol_gap_to_close_8q",
            "vol_volume_surge_mean_4q",
            "vol_volume_surge_mean_8q",
            "vol_volume_surge_last",
            "vol_up_rate_8q",
            "vol_signed_close_mean_8q",
            "vol_gap_reversal_rate_8q",
            "vol_log_price_last",
            "vol_off_reaction_abs_move_mean_8q",
            "vol_off_reaction_range_mean_8q",
            *PRICE_VOLATILITY_FEATURES,
        )
    ],
    "market_regime_features": [
        ("mkt_mean_abs_move_30d", "float"),
        ("mkt_big_move_share_30d", "float"),
        ("mkt_mean_abs_move_90d", "float"),
        ("mkt_big_move_share_90d", "float"),
        ("mkt_move_ratio_30_90", "float"),
        ("mkt_season_intensity", "float"),
        ("mkt_days_into_quarter", "int"),
        *((name, "float") for name in PRICE_MARKET_FEATURES),
    ],
    "calendar_features": [
        ("event_id", "string"),
        ("cal_timing", "string"),
        ("cal_is_amc", "int"),
        ("cal_is_bmo", "int"),
        ("cal_is_confirmed", "int"),
        ("cal_weekday", "int"),
        ("cal_month", "int"),
        ("cal_quarter", "int"),
        ("cal_days_since_last_event", "int"),
        ("cal_history_days", "int"),
    ],
    "options_features": [
        ("opt_implied_move_pct", "float"),
        ("opt_straddle_cost", "float"),
        ("opt_stock_price", "float"),
        ("opt_hist_mean_pct_2_0", "float"),
        ("opt_vrp_ratio_2_0", "float"),
        ("opt_days_to_expiration", "int"),
        ("opt_scan_age_days", "int"),
        ("opt_scans_before_decision", "int"),
        *((name, "float") for name in QUOTE_FEATURES),
        *((name, "int") for name in QUOTE_COUNT_FEATURES),
    ],
}

FEATURE_SERVICE_NAME = "earnings_move_v1"  # the Feast feature service that serves MODEL_FEATURES

# Everything but identifiers: `event_id` is served for checking which event a row describes, and the
# timing string is carried by cal_is_amc / cal_is_bmo.
NOT_MODEL_FEATURES = {"event_id", "cal_timing"}

MODEL_FEATURES: dict[str, list[str]] = {
    view: [name for name, _ in features if name not in NOT_MODEL_FEATURES] for view, features in FEATURE_NAMES.items()
}
MODEL_FEATURE_COLUMNS: list[str] = [name for names in MODEL_FEATURES.values() for name in names]

"""Feast feature views: one per feature category, over the dbt marts of a build.

The field lists mirror the dbt marts (a test checks them against the Parquet schema). Feature rows are
stamped with the event's decision time; TTL covers a quarter and its slack, so a row is never joined to an
event more than one earnings cycle later.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import FeatureView, Field
from feast.types import Float64, Int64, String

from ivcrush.feature_repo.data_sources import mart_source
from ivcrush.feature_repo.entities import ticker

QUARTERLY_TTL = timedelta(days=120)
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


def _history_fields() -> list[Field]:
    fields = [Field(name="hm_prior_events", dtype=Int64), Field(name="hm_prior_events_all_rows", dtype=Int64)]
    for measure in HISTORY_MEASURES:
        fields.append(Field(name=f"hm_{measure}_last", dtype=Float64))
        fields += [
            Field(name=f"hm_{measure}_{statistic}_{window}q", dtype=Float64)
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
    return fields + [Field(name=name, dtype=Float64) for name in names]


FEATURE_FIELDS: dict[str, list[Field]] = {
    "historical_move_features": _history_fields(),
    "volatility_features": [
        Field(name=name, dtype=Float64)
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
        Field(name="mkt_mean_abs_move_30d", dtype=Float64),
        Field(name="mkt_big_move_share_30d", dtype=Float64),
        Field(name="mkt_mean_abs_move_90d", dtype=Float64),
        Field(name="mkt_big_move_share_90d", dtype=Float64),
        Field(name="mkt_move_ratio_30_90", dtype=Float64),
        Field(name="mkt_season_intensity", dtype=Float64),
        Field(name="mkt_days_into_quarter", dtype=Int64),
        *(Field(name=name, dtype=Float64) for name in PRICE_MARKET_FEATURES),
    ],
    "calendar_features": [
        Field(name="event_id", dtype=String),
        Field(name="cal_timing", dtype=String),
        Field(name="cal_is_amc", dtype=Int64),
        Field(name="cal_is_bmo", dtype=Int64),
        Field(name="cal_is_confirmed", dtype=Int64),
        Field(name="cal_weekday", dtype=Int64),
        Field(name="cal_month", dtype=Int64),
        Field(name="cal_quarter", dtype=Int64),
        Field(name="cal_days_since_last_event", dtype=Int64),
        Field(name="cal_history_days", dtype=Int64),
    ],
    "options_features": [
        Field(name="opt_implied_move_pct", dtype=Float64),
        Field(name="opt_straddle_cost", dtype=Float64),
        Field(name="opt_stock_price", dtype=Float64),
        Field(name="opt_hist_mean_pct_2_0", dtype=Float64),
        Field(name="opt_vrp_ratio_2_0", dtype=Float64),
        Field(name="opt_days_to_expiration", dtype=Int64),
        Field(name="opt_scan_age_days", dtype=Int64),
        Field(name="opt_scans_before_decision", dtype=Int64),
        *(Field(name=name, dtype=Float64) for name in QUOTE_FEATURES),
        *(Field(name=name, dtype=Int64) for name in QUOTE_COUNT_FEATURES),
    ],
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

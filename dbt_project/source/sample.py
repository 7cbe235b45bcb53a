"""Sample 2.0 database: writes a realistic, deterministic ``ivcrush.db`` with exactly the real schema.

The DDL below is copied verbatim from the real snapshot's ``sqlite_master.sql`` (in its rootpage order), so
``sqlite_master`` and ``PRAGMA table_info`` of a written file equal the real ones. The data imitate the real
file, including its known fault: after-close (AMC) events are stored on the announcement day, so their stored
moves are ordinary-day moves, about a third of the reaction-day moves of BMO events.
"""

import os
import sqlite3
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_TODAY = date(2025, 6, 30)

_DDL: tuple[str, ...] = (
    (
        "CREATE TABLE earnings_calendar (\n"
        "                ticker TEXT NOT NULL,\n"
        "                earnings_date DATE NOT NULL,\n"
        "                timing TEXT NOT NULL CHECK(timing IN ('BMO', 'AMC', 'DMH', 'UNKNOWN')),\n"
        "                confirmed BOOLEAN DEFAULT 0,\n"
        "                created_at DATETIME DEFAULT CURRENT_TIMESTAMP,\n"
        "                updated_at DATETIME DEFAULT CURRENT_TIMESTAMP, last_validated_at DATETIME,\n"
        "                PRIMARY KEY (ticker, earnings_date)\n"
        "            )"
    ),
    (
        "CREATE TABLE historical_moves (\n"
        "                id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "                ticker TEXT NOT NULL,\n"
        "                earnings_date DATE NOT NULL,\n"
        "                prev_close REAL NOT NULL,\n"
        "                earnings_open REAL NOT NULL,\n"
        "                earnings_high REAL NOT NULL,\n"
        "                earnings_low REAL NOT NULL,\n"
        "                earnings_close REAL NOT NULL,\n"
        "                intraday_move_pct REAL NOT NULL,\n"
        "                gap_move_pct REAL NOT NULL,\n"
        "                close_move_pct REAL NOT NULL,\n"
        "                volume_before INTEGER,\n"
        "                volume_earnings INTEGER,\n"
        "                created_at DATETIME DEFAULT CURRENT_TIMESTAMP,\n"
        "                UNIQUE(ticker, earnings_date)\n"
        "            )"
    ),
    (
        "CREATE TABLE ticker_metadata (\n"
        "                ticker TEXT PRIMARY KEY,\n"
        "                company_name TEXT,\n"
        "                sector TEXT,\n"
        "                industry TEXT,\n"
        "                market_cap REAL,\n"
        "                avg_volume INTEGER,\n"
        "                updated_at DATETIME DEFAULT CURRENT_TIMESTAMP\n"
        "            )"
    ),
    (
        "CREATE TABLE analysis_log (\n"
        "                id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "                ticker TEXT NOT NULL,\n"
        "                earnings_date DATE NOT NULL,\n"
        "                expiration DATE NOT NULL,\n"
        "                implied_move_pct REAL NOT NULL,\n"
        "                historical_mean_pct REAL NOT NULL,\n"
        "                vrp_ratio REAL NOT NULL,\n"
        "                edge_score REAL NOT NULL,\n"
        "                recommendation TEXT NOT NULL,\n"
        "                confidence REAL,\n"
        "                analyzed_at DATETIME DEFAULT CURRENT_TIMESTAMP\n"
        "            )"
    ),
    (
        "CREATE TABLE rate_limits (\n"
        "                service TEXT NOT NULL,\n"
        "                window_start DATETIME NOT NULL,\n"
        "                window_type TEXT NOT NULL CHECK(window_type IN ('minute', 'hour', 'day')),\n"
        "                request_count INTEGER DEFAULT 0,\n"
        "                PRIMARY KEY (service, window_start, window_type)\n"
        "            )"
    ),
    (
        "CREATE TABLE cache (\n"
        "                key TEXT PRIMARY KEY,\n"
        "                value BLOB NOT NULL,\n"
        "                timestamp DATETIME DEFAULT CURRENT_TIMESTAMP\n"
        "            , expiration TEXT)"
    ),
    (
        "CREATE TABLE backtest_runs (\n"
        "                run_id TEXT PRIMARY KEY,\n"
        "                config_name TEXT NOT NULL,\n"
        "                config_description TEXT,\n"
        "                start_date DATE NOT NULL,\n"
        "                end_date DATE NOT NULL,\n"
        "                total_opportunities INTEGER NOT NULL,\n"
        "                qualified_opportunities INTEGER NOT NULL,\n"
        "                selected_trades INTEGER NOT NULL,\n"
        "                win_rate REAL NOT NULL,\n"
        "                total_pnl REAL NOT NULL,\n"
        "                avg_pnl_per_trade REAL NOT NULL,\n"
        "                sharpe_ratio REAL NOT NULL,\n"
        "                max_drawdown REAL NOT NULL,\n"
        "                avg_score_winners REAL,\n"
        "                avg_score_losers REAL,\n"
        "                created_at DATETIME DEFAULT CURRENT_TIMESTAMP\n"
        "            )"
    ),
    (
        "CREATE TABLE backtest_trades (\n"
        "                id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "                run_id TEXT NOT NULL,\n"
        "                config_name TEXT NOT NULL,\n"
        "                ticker TEXT NOT NULL,\n"
        "                earnings_date DATE NOT NULL,\n"
        "                composite_score REAL NOT NULL,\n"
        "                rank INTEGER NOT NULL,\n"
        "                selected BOOLEAN NOT NULL,\n"
        "                avg_historical_move REAL NOT NULL,\n"
        "                consistency REAL NOT NULL,\n"
        "                historical_std REAL NOT NULL,\n"
        "                actual_move REAL NOT NULL,\n"
        "                simulated_pnl REAL NOT NULL,\n"
        "                created_at DATETIME DEFAULT CURRENT_TIMESTAMP,\n"
        "                FOREIGN KEY (run_id) REFERENCES backtest_runs(run_id)\n"
        "            )"
    ),
    (
        "CREATE TABLE schema_migrations (\n"
        "                version INTEGER PRIMARY KEY,\n"
        "                name TEXT NOT NULL,\n"
        "                applied_at TEXT NOT NULL,\n"
        "                checksum TEXT\n"
        "            )"
    ),
    (
        "CREATE TABLE bias_predictions (\n"
        "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "    ticker TEXT NOT NULL,\n"
        "    earnings_date DATE NOT NULL,\n"
        "    expiration DATE NOT NULL,\n"
        "\n"
        "    -- Prediction data (captured before earnings)\n"
        "    stock_price REAL NOT NULL,\n"
        "    predicted_at DATETIME NOT NULL,\n"
        "\n"
        "    -- Skew analysis results\n"
        "    skew_atm REAL NOT NULL,           -- Skew at ATM (%)\n"
        "    skew_curvature REAL NOT NULL,     -- Second derivative (smile vs smirk)\n"
        "    skew_strength TEXT NOT NULL,      -- smile, smirk, inverse_smile\n"
        "    slope_atm REAL NOT NULL,          -- First derivative at ATM\n"
        "\n"
        "    -- Directional bias prediction\n"
        "    directional_bias TEXT NOT NULL,   -- STRONG_BEARISH, BEARISH, WEAK_BEARISH, NEUTRAL, etc.\n"
        "    bias_strength INTEGER NOT NULL,   -- 0=NEUTRAL, 1=WEAK, 2=MODERATE, 3=STRONG\n"
        "    bias_confidence REAL NOT NULL,    -- 0.0-1.0 confidence in prediction\n"
        "    r_squared REAL NOT NULL,          -- Fit quality\n"
        "    num_points INTEGER NOT NULL,      -- Data points used in fit\n"
        "\n"
        "    -- VRP context\n"
        "    vrp_ratio REAL,\n"
        "    implied_move_pct REAL,\n"
        "    historical_mean_pct REAL,\n"
        "\n"
        "    -- Outcome validation (filled after earnings)\n"
        "    actual_move_pct REAL,             -- Actual close-to-close move\n"
        "    actual_gap_pct REAL,              -- Actual gap move\n"
        "    actual_direction TEXT,            -- UP, DOWN, FLAT\n"
        "    prediction_correct BOOLEAN,       -- Did bias match direction?\n"
        "    validated_at DATETIME,\n"
        "\n"
        "    UNIQUE(ticker, earnings_date)\n"
        ")"
    ),
    (
        "CREATE TABLE option_chain_snapshots (\n"
        "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "    ticker TEXT NOT NULL,\n"
        "    earnings_date DATE NOT NULL,\n"
        "    expiration DATE NOT NULL,\n"
        "    captured_at DATETIME NOT NULL,\n"
        "\n"
        "    -- Chain metadata\n"
        "    stock_price REAL NOT NULL,\n"
        "    dte INTEGER NOT NULL,  -- Days to expiration\n"
        "\n"
        "    -- Strike-level data (JSON blob for flexibility)\n"
        "    chain_data TEXT NOT NULL,  -- JSON: [{strike, call_iv, put_iv, call_delta, put_delta, ...}]\n"
        "\n"
        "    UNIQUE(ticker, earnings_date, captured_at)\n"
        ")"
    ),
    (
        "CREATE TABLE bias_accuracy_stats (\n"
        "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "    calculated_at DATETIME NOT NULL,\n"
        "\n"
        "    -- Overall stats\n"
        "    total_predictions INTEGER NOT NULL,\n"
        "    total_validated INTEGER NOT NULL,\n"
        "\n"
        "    -- By strength level\n"
        "    strong_predictions INTEGER NOT NULL,\n"
        "    strong_correct INTEGER NOT NULL,\n"
        "    strong_accuracy REAL NOT NULL,\n"
        "\n"
        "    moderate_predictions INTEGER NOT NULL,\n"
        "    moderate_correct INTEGER NOT NULL,\n"
        "    moderate_accuracy REAL NOT NULL,\n"
        "\n"
        "    weak_predictions INTEGER NOT NULL,\n"
        "    weak_correct INTEGER NOT NULL,\n"
        "    weak_accuracy REAL NOT NULL,\n"
        "\n"
        "    neutral_predictions INTEGER NOT NULL,\n"
        "    neutral_correct INTEGER NOT NULL,\n"
        "    neutral_accuracy REAL NOT NULL,\n"
        "\n"
        "    -- By confidence bucket\n"
        "    high_confidence_predictions INTEGER NOT NULL,    -- confidence > 0.7\n"
        "    high_confidence_correct INTEGER NOT NULL,\n"
        "    high_confidence_accuracy REAL NOT NULL,\n"
        "\n"
        "    med_confidence_predictions INTEGER NOT NULL,     -- 0.3 < confidence <= 0.7\n"
        "    med_confidence_correct INTEGER NOT NULL,\n"
        "    med_confidence_accuracy REAL NOT NULL,\n"
        "\n"
        "    low_confidence_predictions INTEGER NOT NULL,     -- confidence <= 0.3\n"
        "    low_confidence_correct INTEGER NOT NULL,\n"
        "    low_confidence_accuracy REAL NOT NULL\n"
        ")"
    ),
    (
        "CREATE TABLE iv_log (\n"
        "            id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "            ticker TEXT NOT NULL,\n"
        "            earnings_date DATE NOT NULL,\n"
        "            expiration DATE NOT NULL,\n"
        "            scan_date DATE NOT NULL,\n"
        "            stock_price REAL NOT NULL,\n"
        "            atm_strike REAL NOT NULL,\n"
        "            call_mid REAL NOT NULL,\n"
        "            put_mid REAL NOT NULL,\n"
        "            straddle_cost REAL NOT NULL,\n"
        "            implied_move_pct REAL NOT NULL,\n"
        "            historical_mean_pct REAL NOT NULL,\n"
        "            historical_median_pct REAL,\n"
        "            historical_std_pct REAL,\n"
        "            vrp_ratio REAL NOT NULL,\n"
        "            edge_score REAL,\n"
        "            recommendation TEXT NOT NULL,\n"
        "            quarters_of_data INTEGER,\n"
        "            ml_predicted_move_pct REAL,\n"
        "            ml_confidence REAL,\n"
        "            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,\n"
        "            UNIQUE(ticker, earnings_date, scan_date)\n"
        "        )"
    ),
    "ANALYZE",  # creates the (empty) sqlite_stat1 where the real file has it
    (
        "CREATE TABLE trade_journal (\n"
        "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "    symbol TEXT NOT NULL,\n"
        "    acquired_date DATE,\n"
        "    sale_date DATE NOT NULL,\n"
        "    days_held INTEGER,\n"
        "    option_type TEXT,  -- PUT, CALL, or NULL for stocks\n"
        "    strike REAL,\n"
        "    expiration DATE,\n"
        "    quantity INTEGER,\n"
        "    cost_basis REAL NOT NULL,\n"
        "    proceeds REAL NOT NULL,\n"
        "    gain_loss REAL NOT NULL,\n"
        "    is_winner BOOLEAN NOT NULL,\n"
        "    term TEXT,  -- SHORT or LONG\n"
        "    wash_sale_amount REAL DEFAULT 0,\n"
        "    earnings_date DATE,  -- matched earnings event\n"
        "    actual_move REAL,  -- actual move % from that earnings\n"
        "    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,\n"
        "    -- Unique constraint to prevent duplicates\n"
        "    UNIQUE(symbol, acquired_date, sale_date, option_type, strike, cost_basis)\n"
        ")"
    ),
    (
        "CREATE TABLE api_budget (\n"
        "                    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "                    date TEXT NOT NULL,\n"
        "                    service TEXT NOT NULL,\n"
        "                    calls INTEGER DEFAULT 0,\n"
        "                    cost REAL DEFAULT 0.0,\n"
        "                    updated_at TEXT NOT NULL,\n"
        "                    UNIQUE(date, service)\n"
        "                )"
    ),
    (
        "CREATE TABLE job_status (\n"
        "                    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "                    date TEXT NOT NULL,\n"
        "                    job_name TEXT NOT NULL,\n"
        "                    status TEXT NOT NULL,\n"
        "                    updated_at TEXT NOT NULL,\n"
        "                    UNIQUE(date, job_name)\n"
        "                )"
    ),
    (
        "CREATE TABLE sentiment_cache (\n"
        "                    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "                    ticker TEXT NOT NULL,\n"
        "                    earnings_date TEXT NOT NULL,\n"
        "                    direction TEXT,\n"
        "                    score REAL,\n"
        "                    tailwinds TEXT,\n"
        "                    headwinds TEXT,\n"
        "                    raw_response TEXT,\n"
        "                    created_at TEXT NOT NULL,\n"
        "                    expires_at TEXT NOT NULL,\n"
        "                    UNIQUE(ticker, earnings_date)\n"
        "                )"
    ),
    (
        "CREATE TABLE vrp_cache (\n"
        "                    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "                    ticker TEXT NOT NULL,\n"
        "                    earnings_date TEXT NOT NULL,\n"
        "                    implied_move_pct REAL NOT NULL,\n"
        "                    vrp_ratio REAL NOT NULL,\n"
        "                    vrp_tier TEXT NOT NULL,\n"
        "                    historical_mean REAL,\n"
        "                    price REAL,\n"
        "                    expiration TEXT,\n"
        "                    used_real_data INTEGER,\n"
        "                    created_at TEXT NOT NULL,\n"
        "                    expires_at TEXT NOT NULL,\n"
        "                    UNIQUE(ticker, earnings_date)\n"
        "                )"
    ),
    "CREATE INDEX idx_earnings_date ON earnings_calendar(earnings_date)",
    "CREATE INDEX idx_earnings_ticker ON earnings_calendar(ticker)",
    "CREATE INDEX idx_moves_ticker ON historical_moves(ticker)",
    "CREATE INDEX idx_moves_date ON historical_moves(earnings_date)",
    "CREATE INDEX idx_analysis_ticker ON analysis_log(ticker)",
    "CREATE INDEX idx_analysis_date ON analysis_log(analyzed_at)",
    "CREATE INDEX idx_analysis_recommendation ON analysis_log(recommendation)",
    "CREATE INDEX idx_rate_limits_service ON rate_limits(service, window_start)",
    "CREATE INDEX idx_cache_timestamp ON cache(timestamp)",
    "CREATE INDEX idx_backtest_config ON backtest_runs(config_name)",
    "CREATE INDEX idx_backtest_date ON backtest_runs(start_date, end_date)",
    "CREATE INDEX idx_trades_run ON backtest_trades(run_id)",
    "CREATE INDEX idx_trades_ticker ON backtest_trades(ticker)",
    "CREATE INDEX idx_trades_selected ON backtest_trades(selected)",
    "CREATE INDEX idx_bias_ticker ON bias_predictions(ticker)",
    "CREATE INDEX idx_bias_date ON bias_predictions(earnings_date)",
    "CREATE INDEX idx_bias_strength ON bias_predictions(bias_strength)",
    "CREATE INDEX idx_bias_validated ON bias_predictions(validated_at)",
    "CREATE INDEX idx_chain_ticker ON option_chain_snapshots(ticker)",
    "CREATE INDEX idx_chain_date ON option_chain_snapshots(earnings_date)",
    "CREATE INDEX idx_iv_log_scan_date ON iv_log(scan_date)",
    "CREATE INDEX idx_iv_log_earnings_date ON iv_log(earnings_date)",
    "CREATE INDEX idx_iv_log_vrp ON iv_log(vrp_ratio DESC)",
    "CREATE INDEX idx_iv_log_composite ON iv_log(scan_date, earnings_date, vrp_ratio DESC)",
    "CREATE INDEX idx_moves_ticker_date ON historical_moves(ticker, earnings_date DESC)",
    "CREATE INDEX idx_earnings_date_ticker ON earnings_calendar(earnings_date, ticker)",
    "CREATE INDEX idx_journal_symbol ON trade_journal(symbol)",
    "CREATE INDEX idx_journal_sale_date ON trade_journal(sale_date)",
    "CREATE INDEX idx_journal_earnings ON trade_journal(earnings_date)",
    ("CREATE INDEX idx_api_budget_date_service\n                ON api_budget(date, service)\n            "),
    ("CREATE INDEX idx_job_status_date\n                ON job_status(date)\n            "),
    ("CREATE INDEX idx_sentiment_ticker_date\n                ON sentiment_cache(ticker, earnings_date)\n            "),
    ("CREATE INDEX idx_vrp_ticker_date\n                ON vrp_cache(ticker, earnings_date)\n            "),
)

_MIGRATIONS = (
    (1, "create_schema_migrations_table", "2025-11-23T09:49:59.332784", None),
    (2, "add_cache_expiration_column", "2025-11-23T09:49:59.333446", None),
    (3, "add_last_validated_at_column", "2025-12-08T09:36:24.790417", None),
)

_TIMINGS = np.array(["BMO", "AMC", "DMH", "UNKNOWN"])
_WEEKDAY_P = np.array([0.09, 0.26, 0.28, 0.31, 0.06])  # Mon..Fri share of real earnings dates
_FUTURE_DAYS = 120  # calendar horizon after `today`
_TIERS = ((7.0, "excellent"), (4.0, "good"), (1.5, "marginal"))  # real iv_log rows; below 1.5 -> "skip"


def _weekday(d: np.ndarray) -> np.ndarray:
    """Monday=0 .. Sunday=6 for datetime64[D] values (1970-01-01 was a Thursday)."""
    return (d.astype(np.int64) + 3) % 7


def _next_friday(d: np.ndarray) -> np.ndarray:
    """The first Friday on or after each date."""
    return d + ((4 - _weekday(d)) % 7).astype("timedelta64[D]")


def _dates(d: np.ndarray) -> list[str]:
    return np.datetime_as_string(d, unit="D").tolist()


def _stamps(t: np.ndarray) -> list[str]:
    """'YYYY-MM-DD HH:MM:SS' texts, as SQLite's CURRENT_TIMESTAMP writes them."""
    return np.char.replace(np.datetime_as_string(t.astype("datetime64[s]"), unit="s"), "T", " ").tolist()


def _symbols(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` unique synthetic uppercase symbols of 1-5 letters, mostly 3-4."""
    found = np.empty(0, dtype="U5")
    while found.size < n:
        m = 2 * n + 64
        length = rng.choice(np.arange(1, 6), size=m, p=[0.002, 0.04, 0.33, 0.55, 0.078])
        codes = rng.integers(65, 91, size=(m, 5), dtype=np.uint8)
        codes[np.arange(5)[None, :] >= length[:, None]] = 0
        cand = np.concatenate([found, codes.view("S5").ravel().astype("U5")])
        _, first = np.unique(cand, return_index=True)
        found = cand[np.sort(first)]
    return found[:n]


def _tickers(rng: np.random.Generator, n: int, years: int) -> pd.DataFrame:
    """Per-ticker parameters: symbol, move scale, price level, volume, timing habit, coverage."""
    base = rng.choice(3, size=n, p=[0.495, 0.495, 0.01])
    quarters = np.where(rng.random(n) < 0.15, 1.0, rng.uniform(0.2, 0.7, n)) * years * 4
    return pd.DataFrame(
        {
            "symbol": _symbols(rng, n),
            "scale": np.clip(rng.lognormal(np.log(4.2), 0.5, n), 0.8, 25.0),  # reaction-day move scale, %
            "price": np.clip(rng.lognormal(np.log(90.0), 1.0, n), 5.0, 3000.0),
            "volume": np.clip(rng.lognormal(np.log(3.4e6), 1.1, n), 5e4, 8e8),
            "timing": base,
            "flip_p": rng.choice([0.0, 0.1, 0.3], size=n, p=[0.6, 0.3, 0.1]),
            "weekday": rng.choice(5, size=n, p=_WEEKDAY_P),
            "n_past": np.maximum(1, np.round(quarters)).astype(np.int64),
            "phase": rng.integers(3, 94, n),
            "backfill": rng.uniform(10, 200, n),  # days before `today` the ticker was backfilled
            "intraday_on_open": rng.random(n) < 0.05,  # 5% of real rows divide H-L by the open
        }
    )


def _events(rng: np.random.Generator, tk: pd.DataFrame, today: np.datetime64) -> pd.DataFrame:
    """All events (past and the next ~quarter), one every ~91 days per ticker, on weekdays."""
    n_ev = tk["n_past"].to_numpy() + 2
    t = np.repeat(np.arange(len(tk)), n_ev)
    starts = np.cumsum(n_ev) - n_ev
    k = np.arange(t.size) - starts[t] - (tk["n_past"].to_numpy()[t] - 1)  # <=0 past, 1..2 future
    nominal = today - tk["phase"].to_numpy()[t] + 91 * k + rng.integers(-4, 5, t.size)
    nominal = nominal.astype("datetime64[D]")
    wd = np.where(rng.random(t.size) < 0.7, tk["weekday"].to_numpy()[t], rng.choice(5, t.size, p=_WEEKDAY_P))
    d = nominal - _weekday(nominal).astype("timedelta64[D]") + wd.astype("timedelta64[D]")
    timing = tk["timing"].to_numpy()[t]
    flip = rng.random(t.size) < tk["flip_p"].to_numpy()[t]
    timing = np.where(flip, np.where(timing == 1, 0, 1), timing)
    future = d > today
    timing = np.where(future & (rng.random(t.size) < 0.09), 3, timing)
    keep = (d != today) & (d <= today + _FUTURE_DAYS)
    return pd.DataFrame({"t": t, "date": d, "timing": timing, "future": future})[keep].reset_index(drop=True)


def _moves(rng: np.random.Generator, tk: pd.DataFrame, past: pd.DataFrame, today: np.datetime64) -> pd.DataFrame:
    """OHLC and moves of past events: reaction-day moves for BMO/DMH, ordinary-day moves for AMC."""
    t = past["t"].to_numpy()
    m = t.size
    reaction = past["timing"].to_numpy() != 1
    scale = tk["scale"].to_numpy()[t] * np.where(reaction, 1.0, 0.38) / 100
    # price path: quarterly log returns, anchored so the latest event sits at the ticker's price level
    r = rng.normal(0.015, 0.06 + 0.6 * tk["scale"].to_numpy()[t] / 100)
    cs = np.cumsum(r)
    last = np.zeros(len(tk), dtype=np.int64)
    last[t] = np.arange(m)
    pc = np.round(np.clip(tk["price"].to_numpy()[t] * np.exp(cs - cs[last[t]]), 0.5, 20000), 6)
    close_r = np.clip(scale * np.clip(rng.standard_t(3, m), -12, 12), -0.85, 3.0)
    share = np.where(reaction, rng.uniform(0.55, 1.1, m), rng.uniform(0.0, 1.0, m))
    gap_r = close_r * share + scale * 0.15 * rng.standard_normal(m)
    op = np.round(pc * (1 + np.clip(gap_r, -0.85, 3.0)), 6)
    cl = np.round(pc * (1 + close_r), 6)
    wick = scale * np.where(reaction, 0.45, 0.7)  # real ranges: ~1.15x the close move (BMO), ~1.8x (AMC)
    hi = np.round(np.maximum(op, cl) * (1 + rng.exponential(wick)), 6)
    lo = np.round(np.minimum(op, cl) * (1 - np.minimum(rng.exponential(wick), 0.5)), 6)
    base = np.where(tk["intraday_on_open"].to_numpy()[t], op, pc)
    vol_before = np.round(tk["volume"].to_numpy()[t] * rng.lognormal(0.0, 0.35, m)).astype(np.int64)
    surge = rng.lognormal(np.where(reaction, np.log(1.8), np.log(1.45)), 0.45)
    backfill = today - (tk["backfill"].to_numpy()[t] * 86400).astype("timedelta64[s]")
    d = past["date"].to_numpy().astype("datetime64[s]")
    later = d + np.timedelta64(86400 + 18 * 3600, "s") + rng.integers(0, 3600, m).astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "ticker": tk["symbol"].to_numpy()[t],
            "earnings_date": _dates(past["date"].to_numpy()),
            "prev_close": pc,
            "earnings_open": op,
            "earnings_high": hi,
            "earnings_low": lo,
            "earnings_close": cl,
            "intraday_move_pct": (hi - lo) / base * 100,
            "gap_move_pct": np.abs(op / pc - 1) * 100,
            "close_move_pct": np.abs(cl / pc - 1) * 100,
            "volume_before": vol_before,
            "volume_earnings": np.round(vol_before * surge).astype(np.int64),
            "created_at": _stamps(np.where(d < backfill, backfill, later)),
        }
    )


def _calendar(rng: np.random.Generator, tk: pd.DataFrame, ev: pd.DataFrame, today: np.datetime64) -> pd.DataFrame:
    """One row per event: past ones confirmed, future ones mostly confirmed."""
    n = len(ev)
    future = ev["future"].to_numpy()
    t = ev["t"].to_numpy()
    d = ev["date"].to_numpy().astype("datetime64[s]")
    backfill = today - (tk["backfill"].to_numpy()[t] * 86400).astype("timedelta64[s]")
    announced = d - (rng.uniform(20, 50, n) * 86400).astype("timedelta64[s]")
    latest = today - rng.integers(3600, 86400 * 3, n).astype("timedelta64[s]")
    created = np.where(d < backfill, backfill, np.minimum(announced, latest))
    stamps = np.array(_stamps(created), dtype=object)
    validated = future & (rng.random(n) < 0.05)
    return pd.DataFrame(
        {
            "ticker": tk["symbol"].to_numpy()[t],
            "earnings_date": _dates(ev["date"].to_numpy()),
            "timing": _TIMINGS[ev["timing"].to_numpy()],
            "confirmed": np.where(future, (rng.random(n) < 0.92).astype(np.int64), 1),
            "created_at": stamps,
            "updated_at": stamps,
            "last_validated_at": np.where(validated, stamps, None),
        }
    )


def _iv_log(
    rng: np.random.Generator, tk: pd.DataFrame, ev: pd.DataFrame, moves: pd.DataFrame, today: np.datetime64
) -> pd.DataFrame:
    """Pre-earnings scans: one scan `today` of the next events, and scans days before recent past events."""
    past = ev[~ev["future"]]
    t_past = past["t"].to_numpy()
    lo = np.searchsorted(t_past, np.arange(len(tk)))  # block of each ticker in the (ticker, date)-sorted past
    hi = np.searchsorted(t_past, np.arange(len(tk)), side="right")
    fut = ev[ev["future"].to_numpy() & (ev["date"].to_numpy() <= today + 10)]
    fut = fut[(hi - lo)[fut["t"].to_numpy()] >= 4]
    fut = fut.iloc[np.sort(rng.permutation(len(fut))[:40])]
    pos = np.arange(len(past))
    recent = (past["date"].to_numpy() >= today - 365) & (pos - lo[t_past] >= 4)
    cand = np.flatnonzero(recent)
    n_old = min(cand.size, 2000, max(20, round(0.02 * cand.size)))
    old = np.sort(rng.choice(cand, n_old, replace=False))
    t = np.concatenate([fut["t"].to_numpy(), t_past[old]])
    end = np.concatenate([hi[fut["t"].to_numpy()], old])  # history strictly before the scanned event
    idx = end[:, None] - 12 + np.arange(12)[None, :]
    window = np.where(idx >= lo[t][:, None], moves["close_move_pct"].to_numpy()[np.maximum(idx, 0)], np.nan)
    n = t.size
    earn = np.concatenate([fut["date"].to_numpy(), past["date"].to_numpy()[old]]).astype("datetime64[D]")
    scan = np.concatenate([np.full(len(fut), today), earn[len(fut) :] - rng.integers(1, 5, n_old)])
    last_close = moves["earnings_close"].to_numpy()
    spot = np.concatenate(
        [
            last_close[hi[fut["t"].to_numpy()] - 1] * rng.lognormal(0, 0.05, len(fut)),
            moves["prev_close"].to_numpy()[old] * rng.lognormal(0, 0.02, n_old),
        ]
    )
    spot = np.round(np.maximum(spot, 1.0), 2)
    inc = np.select([spot < 25, spot < 100, spot < 500, spot < 1000, spot < 2000], [0.5, 1, 2.5, 5, 10], 50)
    implied_true = tk["scale"].to_numpy()[t] * 1.1 * rng.lognormal(np.log(1.15), 0.25, n) / 100
    call_share = rng.uniform(0.45, 0.55, n)
    call = np.maximum(np.round(spot * implied_true * call_share / 0.025) * 0.025, 0.025).round(3)
    put = np.maximum(np.round(spot * implied_true * (1 - call_share) / 0.025) * 0.025, 0.025).round(3)
    straddle = call + put
    implied = straddle / spot * 100
    mean = np.nanmean(window, axis=1)
    vrp = implied / mean
    expiration = _next_friday(earn + 1) + np.where(rng.random(n) < 0.1, 7, 0).astype("timedelta64[D]")
    created = scan.astype("datetime64[s]") + np.timedelta64(18 * 3600 + 25 * 60, "s") + np.arange(n) % 600
    return pd.DataFrame(
        {
            "ticker": tk["symbol"].to_numpy()[t],
            "earnings_date": _dates(earn),
            "expiration": _dates(expiration),
            "scan_date": _dates(scan),
            "stock_price": spot,
            "atm_strike": np.round(spot / inc) * inc,
            "call_mid": call,
            "put_mid": put,
            "straddle_cost": straddle,
            "implied_move_pct": implied,
            "historical_mean_pct": mean,
            "historical_median_pct": np.nanmedian(window, axis=1),
            "historical_std_pct": np.nanstd(window, axis=1, ddof=1),
            "vrp_ratio": vrp,
            "edge_score": vrp * rng.lognormal(np.log(0.55), 0.2, n),  # approximation: real ≈ 0.4-0.8 x VRP
            "recommendation": np.select([vrp >= lim for lim, _ in _TIERS], [w for _, w in _TIERS], "skip"),
            "quarters_of_data": np.sum(~np.isnan(window), axis=1),
            "ml_predicted_move_pct": None,
            "ml_confidence": None,
            "created_at": _stamps(created),
        }
    )


def _bday(d: date, step: int) -> date:
    """The weekday `step` (+1/-1) business days from `d`."""
    d += timedelta(days=step)
    while d.weekday() >= 5:
        d += timedelta(days=step)
    return d


def _strike(x: float, price: float) -> float:
    inc = 0.5 if price < 25 else 1.0 if price < 100 else 2.5 if price < 500 else 5.0
    return max(inc, round(x / inc) * inc)


class _Journal:
    """Closed tax lots as in a broker's realized gain/loss export, built position by position."""

    def __init__(self, rng: np.random.Generator, stamp: str) -> None:
        self.rng = rng
        self.stamp = stamp
        self.rows: list[tuple] = []
        self.keys: set[tuple] = set()

    def leg(
        self,
        sym: str,
        opened: date,
        closed: date,
        kind: str | None,
        strike: float | None,
        expiration: date | None,
        qty: int,
        open_px: float,
        close_px: float,
        credit: bool,
        event: tuple[str, float] | None = None,
    ) -> None:
        """One leg, split into 1-5 lots. Credit legs: sold `opened`, bought back (acquired) `closed`."""
        mult = 1 if kind is None else 100
        n_lots = min(qty, int(self.rng.geometric(0.5)), 5) if close_px > 0 else 1
        sizes = 1 + self.rng.multinomial(qty - n_lots, np.full(n_lots, 1 / n_lots))
        acquired, sale = (closed, opened) if credit else (opened, closed)
        buy_px, sell_px = (close_px, open_px) if credit else (open_px, close_px)
        for q in sizes.tolist():
            fee = 0.65 * q * (kind is not None) + 0.01 * int(self.rng.integers(0, 4))
            cost = round(buy_px * mult * q + fee if buy_px > 0 else 0.0, 2)
            proceeds = round(max(sell_px * mult * q - fee, 0.0), 2)
            key = (sym, acquired, sale, kind, strike, cost)
            while key in self.keys:
                cost = round(cost + 0.01, 2)
                key = (sym, acquired, sale, kind, strike, cost)
            self.keys.add(key)
            gain = round(proceeds - cost, 2)
            days = (sale - acquired).days
            self.rows.append(
                (
                    sym,
                    acquired.isoformat(),
                    sale.isoformat(),
                    days,
                    kind,
                    strike,
                    None if expiration is None else expiration.isoformat(),
                    q,
                    cost,
                    proceeds,
                    gain,
                    int(gain > 0),
                    "LONG" if days > 365 else "SHORT",
                    0.0,
                    None if event is None else event[0],
                    None if event is None else event[1],
                    self.stamp,
                )
            )

    def position(
        self,
        sym: str,
        earn: date,
        amc: bool,
        price: float,
        move: float,
        scale: float,
        today: date,
        structure: int | None,
    ) -> None:
        """A trade around one past event: naked put, put spread, iron condor, long option, or stock."""
        rng = self.rng
        opened = earn if amc else _bday(earn, -1)
        closed = _bday(earn, 1) if amc else earn
        expiration = closed + timedelta(days=(4 - closed.weekday()) % 7 + 7 * int(rng.random() < 0.1))
        im = scale * 1.2 / 100
        qty = max(1, round(rng.lognormal(np.log(20), 1.0)))
        win = rng.random() < 0.78
        kind = structure if structure is not None else rng.choice(5, p=[0.45, 0.17, 0.10, 0.18, 0.10])
        if kind == 3:  # long call or put, bought before the event
            prem = price * im * rng.uniform(0.3, 0.6)
            self.leg(
                sym,
                opened,
                closed,
                str(rng.choice(["CALL", "PUT"])),
                _strike(price, price),
                expiration,
                qty,
                prem,
                prem * rng.lognormal(-0.2, 0.8),
                credit=False,
                event=(earn.isoformat(), move) if rng.random() < 0.4 else None,
            )
            return
        if kind == 4:  # shares
            start = opened - timedelta(days=int(rng.integers(0, 60)))
            end = min(start + timedelta(days=int(rng.integers(0, 90))), today - timedelta(days=1))
            shares = int(rng.integers(20, 600))
            self.leg(sym, start, end, None, None, None, shares, price, price * rng.lognormal(0.01, 0.06), credit=False)
            return
        sides = ["PUT"] if kind in (0, 1) else ["PUT", "CALL"]
        for side in sides:
            sign = -1 if side == "PUT" else 1
            short_k = _strike(price * (1 + sign * im * rng.uniform(1.0, 1.5)), price)
            prem = price * im * rng.uniform(0.08, 0.25)
            expired = win and rng.random() < 0.25
            back = 0.0 if expired else prem * (rng.uniform(0.02, 0.4) if win else rng.uniform(1.5, 4.0))
            self.leg(
                sym, opened, expiration if expired else closed, side, short_k, expiration, qty, prem, back, credit=True
            )
            if kind == 0:
                continue
            long_k = short_k + sign * _strike(price * 0.025, price) * int(rng.choice([1, 2, 4]))
            if long_k <= 0:
                continue
            hedge = prem * rng.uniform(0.3, 0.6)
            self.leg(
                sym,
                opened,
                closed,
                side,
                long_k,
                expiration,
                qty,
                hedge,
                hedge * (rng.uniform(0.0, 0.5) if win else rng.uniform(1.2, 3.0)),
                credit=False,
            )


def _trade_journal(
    rng: np.random.Generator, tk: pd.DataFrame, ev: pd.DataFrame, moves: pd.DataFrame, today: date
) -> list[tuple]:
    """About 1% as many closed lots as past events (at least ~30), from trades around recent events."""
    past = ev[~ev["future"]].reset_index(drop=True)
    dates = past["date"].to_numpy().astype("datetime64[D]")
    recent = np.flatnonzero(
        (dates >= np.datetime64(today - timedelta(days=540))) & (dates < np.datetime64(today - timedelta(days=7)))
    )
    target = max(30, round(0.01 * len(past)))
    journal = _Journal(rng, f"{today.isoformat()} 15:20:03")
    n_pos = 0  # the first five positions are one of each structure
    while len(journal.rows) < target and recent.size:
        i = int(rng.choice(recent))
        t = int(past.at[i, "t"])
        amc = bool(past.at[i, "timing"] == 1)
        journal.position(
            str(tk.at[t, "symbol"]),
            date.fromisoformat(str(dates[i])),
            amc,
            float(moves.at[i, "prev_close"]),
            float(moves.at[i, "close_move_pct"]),
            float(tk.at[t, "scale"]),
            today,
            n_pos if n_pos < 5 else None,
        )
        n_pos += 1
    return sorted(journal.rows, key=lambda r: (min(r[1], r[2]), r[0]))


def _insert(con: sqlite3.Connection, table: str, df: pd.DataFrame) -> None:
    cols = ", ".join(df.columns)
    marks = ", ".join("?" * len(df.columns))
    data = zip(*(df[c].tolist() for c in df.columns), strict=True)
    con.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", data)


_JOURNAL_COLS = (
    "symbol, acquired_date, sale_date, days_held, option_type, strike, expiration, quantity, cost_basis, "
    "proceeds, gain_loss, is_winner, term, wash_sale_amount, earnings_date, actual_move, created_at"
)


def _fill(con: sqlite3.Connection, tickers: int, years: int, seed: int, today: date) -> None:
    rng = np.random.default_rng(seed)
    day = np.datetime64(today, "D")
    tk = _tickers(rng, tickers, years)
    ev = _events(rng, tk, day)
    moves = _moves(rng, tk, ev[~ev["future"]].reset_index(drop=True), day)
    for ddl in _DDL:
        con.execute(ddl)
    con.executemany("INSERT INTO schema_migrations VALUES (?, ?, ?, ?)", _MIGRATIONS)
    _insert(con, "historical_moves", moves)
    _insert(con, "earnings_calendar", _calendar(rng, tk, ev, day))
    _insert(con, "iv_log", _iv_log(rng, tk, ev, moves, day))
    con.executemany(
        f"INSERT INTO trade_journal ({_JOURNAL_COLS}) VALUES ({', '.join('?' * 17)})",
        _trade_journal(rng, tk, ev, moves, today),
    )
    con.execute(
        "INSERT INTO api_budget (date, service, calls, cost, updated_at) VALUES (?, 'perplexity', 2, 0.01, ?)",
        (today.isoformat(), f"{today.isoformat()}T16:02:23.264777-05:00"),
    )


def write_sample_db(
    path: Path, tickers: int = 250, years: int = 6, seed: int = 7, today: date | None = None
) -> dict[str, int]:
    """Write a new sample 2.0 database at `path` (WAL mode) and return its row count per table.

    Deterministic for given arguments; `today` (default 2025-06-30) ends the history, and the calendar
    holds each ticker's next event(s) up to ~4 months after it. Refuses an existing `path`; a failure
    leaves nothing behind.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # same folder: atomic
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            _fill(con, tickers, years, seed, today or DEFAULT_TODAY)
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode=WAL")
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
        raise
    return counts

-- The 2.0 database's schema (ivcrush.db), verbatim: every statement as 2.0's sqlite_master holds it, in its
-- rootpage order, so that a file created from it has the real sqlite_master and PRAGMA table_info. Then the
-- schema_migrations rows that made this schema version. Read by ivcrush.source.schema.ddl_statements();
-- ivcrush.source.schema declares the tables and columns the platform reads (tests check both agree).

CREATE TABLE earnings_calendar (
                ticker TEXT NOT NULL,
                earnings_date DATE NOT NULL,
                timing TEXT NOT NULL CHECK(timing IN ('BMO', 'AMC', 'DMH', 'UNKNOWN')),
                confirmed BOOLEAN DEFAULT 0,
                created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
                updated_at DATETIME DEFAULT CURRENT_TIMESTAMP, last_validated_at DATETIME,
                PRIMARY KEY (ticker, earnings_date)
            );

CREATE TABLE historical_moves (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ticker TEXT NOT NULL,
                earnings_date DATE NOT NULL,
                prev_close REAL NOT NULL,
                earnings_open REAL NOT NULL,
                earnings_high REAL NOT NULL,
                earnings_low REAL NOT NULL,
                earnings_close REAL NOT NULL,
                intraday_move_pct REAL NOT NULL,
                gap_move_pct REAL NOT NULL,
                close_move_pct REAL NOT NULL,
                volume_before INTEGER,
                volume_earnings INTEGER,
                created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
                UNIQUE(ticker, earnings_date)
            );

CREATE TABLE ticker_metadata (
                ticker TEXT PRIMARY KEY,
                company_name TEXT,
                sector TEXT,
                industry TEXT,
                market_cap REAL,
                avg_volume INTEGER,
                updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
            );

CREATE TABLE analysis_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ticker TEXT NOT NULL,
                earnings_date DATE NOT NULL,
                expiration DATE NOT NULL,
                implied_move_pct REAL NOT NULL,
                historical_mean_pct REAL NOT NULL,
                vrp_ratio REAL NOT NULL,
                edge_score REAL NOT NULL,
                recommendation TEXT NOT NULL,
                confidence REAL,
                analyzed_at DATETIME DEFAULT CURRENT_TIMESTAMP
            );

CREATE TABLE rate_limits (
                service TEXT NOT NULL,
                window_start DATETIME NOT NULL,
                window_type TEXT NOT NULL CHECK(window_type IN ('minute', 'hour', 'day')),
                request_count INTEGER DEFAULT 0,
                PRIMARY KEY (service, window_start, window_type)
            );

CREATE TABLE cache (
                key TEXT PRIMARY KEY,
                value BLOB NOT NULL,
                timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
            , expiration TEXT);

CREATE TABLE backtest_runs (
                run_id TEXT PRIMARY KEY,
                config_name TEXT NOT NULL,
                config_description TEXT,
                start_date DATE NOT NULL,
                end_date DATE NOT NULL,
                total_opportunities INTEGER NOT NULL,
                qualified_opportunities INTEGER NOT NULL,
                selected_trades INTEGER NOT NULL,
                win_rate REAL NOT NULL,
                total_pnl REAL NOT NULL,
                avg_pnl_per_trade REAL NOT NULL,
                sharpe_ratio REAL NOT NULL,
                max_drawdown REAL NOT NULL,
                avg_score_winners REAL,
                avg_score_losers REAL,
                created_at DATETIME DEFAULT CURRENT_TIMESTAMP
            );

CREATE TABLE backtest_trades (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id TEXT NOT NULL,
                config_name TEXT NOT NULL,
                ticker TEXT NOT NULL,
                earnings_date DATE NOT NULL,
                composite_score REAL NOT NULL,
                rank INTEGER NOT NULL,
                selected BOOLEAN NOT NULL,
                avg_historical_move REAL NOT NULL,
                consistency REAL NOT NULL,
                historical_std REAL NOT NULL,
                actual_move REAL NOT NULL,
                simulated_pnl REAL NOT NULL,
                created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
                FOREIGN KEY (run_id) REFERENCES backtest_runs(run_id)
            );

CREATE TABLE schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                checksum TEXT
            );

CREATE TABLE bias_predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticker TEXT NOT NULL,
    earnings_date DATE NOT NULL,
    expiration DATE NOT NULL,

    -- Prediction data (captured before earnings)
    stock_price REAL NOT NULL,
    predicted_at DATETIME NOT NULL,

    -- Skew analysis results
    skew_atm REAL NOT NULL,           -- Skew at ATM (%)
    skew_curvature REAL NOT NULL,     -- Second derivative (smile vs smirk)
    skew_strength TEXT NOT NULL,      -- smile, smirk, inverse_smile
    slope_atm REAL NOT NULL,          -- First derivative at ATM

    -- Directional bias prediction
    directional_bias TEXT NOT NULL,   -- STRONG_BEARISH, BEARISH, WEAK_BEARISH, NEUTRAL, etc.
    bias_strength INTEGER NOT NULL,   -- 0=NEUTRAL, 1=WEAK, 2=MODERATE, 3=STRONG
    bias_confidence REAL NOT NULL,    -- 0.0-1.0 confidence in prediction
    r_squared REAL NOT NULL,          -- Fit quality
    num_points INTEGER NOT NULL,      -- Data points used in fit

    -- VRP context
    vrp_ratio REAL,
    implied_move_pct REAL,
    historical_mean_pct REAL,

    -- Outcome validation (filled after earnings)
    actual_move_pct REAL,             -- Actual close-to-close move
    actual_gap_pct REAL,              -- Actual gap move
    actual_direction TEXT,            -- UP, DOWN, FLAT
    prediction_correct BOOLEAN,       -- Did bias match direction?
    validated_at DATETIME,

    UNIQUE(ticker, earnings_date)
);

CREATE TABLE option_chain_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticker TEXT NOT NULL,
    earnings_date DATE NOT NULL,
    expiration DATE NOT NULL,
    captured_at DATETIME NOT NULL,

    -- Chain metadata
    stock_price REAL NOT NULL,
    dte INTEGER NOT NULL,  -- Days to expiration

    -- Strike-level data (JSON blob for flexibility)
    chain_data TEXT NOT NULL,  -- JSON: [{strike, call_iv, put_iv, call_delta, put_delta, ...}]

    UNIQUE(ticker, earnings_date, captured_at)
);

CREATE TABLE bias_accuracy_stats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    calculated_at DATETIME NOT NULL,

    -- Overall stats
    total_predictions INTEGER NOT NULL,
    total_validated INTEGER NOT NULL,

    -- By strength level
    strong_predictions INTEGER NOT NULL,
    strong_correct INTEGER NOT NULL,
    strong_accuracy REAL NOT NULL,

    moderate_predictions INTEGER NOT NULL,
    moderate_correct INTEGER NOT NULL,
    moderate_accuracy REAL NOT NULL,

    weak_predictions INTEGER NOT NULL,
    weak_correct INTEGER NOT NULL,
    weak_accuracy REAL NOT NULL,

    neutral_predictions INTEGER NOT NULL,
    neutral_correct INTEGER NOT NULL,
    neutral_accuracy REAL NOT NULL,

    -- By confidence bucket
    high_confidence_predictions INTEGER NOT NULL,    -- confidence > 0.7
    high_confidence_correct INTEGER NOT NULL,
    high_confidence_accuracy REAL NOT NULL,

    med_confidence_predictions INTEGER NOT NULL,     -- 0.3 < confidence <= 0.7
    med_confidence_correct INTEGER NOT NULL,
    med_confidence_accuracy REAL NOT NULL,

    low_confidence_predictions INTEGER NOT NULL,     -- confidence <= 0.3
    low_confidence_correct INTEGER NOT NULL,
    low_confidence_accuracy REAL NOT NULL
);

CREATE TABLE iv_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticker TEXT NOT NULL,
            earnings_date DATE NOT NULL,
            expiration DATE NOT NULL,
            scan_date DATE NOT NULL,
            stock_price REAL NOT NULL,
            atm_strike REAL NOT NULL,
            call_mid REAL NOT NULL,
            put_mid REAL NOT NULL,
            straddle_cost REAL NOT NULL,
            implied_move_pct REAL NOT NULL,
            historical_mean_pct REAL NOT NULL,
            historical_median_pct REAL,
            historical_std_pct REAL,
            vrp_ratio REAL NOT NULL,
            edge_score REAL,
            recommendation TEXT NOT NULL,
            quarters_of_data INTEGER,
            ml_predicted_move_pct REAL,
            ml_confidence REAL,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            UNIQUE(ticker, earnings_date, scan_date)
        );

-- creates the (empty) sqlite_stat1 where the real file has it
ANALYZE;

CREATE TABLE trade_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    acquired_date DATE,
    sale_date DATE NOT NULL,
    days_held INTEGER,
    option_type TEXT,  -- PUT, CALL, or NULL for stocks
    strike REAL,
    expiration DATE,
    quantity INTEGER,
    cost_basis REAL NOT NULL,
    proceeds REAL NOT NULL,
    gain_loss REAL NOT NULL,
    is_winner BOOLEAN NOT NULL,
    term TEXT,  -- SHORT or LONG
    wash_sale_amount REAL DEFAULT 0,
    earnings_date DATE,  -- matched earnings event
    actual_move REAL,  -- actual move % from that earnings
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    -- Unique constraint to prevent duplicates
    UNIQUE(symbol, acquired_date, sale_date, option_type, strike, cost_basis)
);

CREATE TABLE api_budget (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    date TEXT NOT NULL,
                    service TEXT NOT NULL,
                    calls INTEGER DEFAULT 0,
                    cost REAL DEFAULT 0.0,
                    updated_at TEXT NOT NULL,
                    UNIQUE(date, service)
                );

CREATE TABLE job_status (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    date TEXT NOT NULL,
                    job_name TEXT NOT NULL,
                    status TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE(date, job_name)
                );

CREATE TABLE sentiment_cache (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticker TEXT NOT NULL,
                    earnings_date TEXT NOT NULL,
                    direction TEXT,
                    score REAL,
                    tailwinds TEXT,
                    headwinds TEXT,
                    raw_response TEXT,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL,
                    UNIQUE(ticker, earnings_date)
                );

CREATE TABLE vrp_cache (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticker TEXT NOT NULL,
                    earnings_date TEXT NOT NULL,
                    implied_move_pct REAL NOT NULL,
                    vrp_ratio REAL NOT NULL,
                    vrp_tier TEXT NOT NULL,
                    historical_mean REAL,
                    price REAL,
                    expiration TEXT,
                    used_real_data INTEGER,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL,
                    UNIQUE(ticker, earnings_date)
                );

CREATE INDEX idx_earnings_date ON earnings_calendar(earnings_date);

CREATE INDEX idx_earnings_ticker ON earnings_calendar(ticker);

CREATE INDEX idx_moves_ticker ON historical_moves(ticker);

CREATE INDEX idx_moves_date ON historical_moves(earnings_date);

CREATE INDEX idx_analysis_ticker ON analysis_log(ticker);

CREATE INDEX idx_analysis_date ON analysis_log(analyzed_at);

CREATE INDEX idx_analysis_recommendation ON analysis_log(recommendation);

CREATE INDEX idx_rate_limits_service ON rate_limits(service, window_start);

CREATE INDEX idx_cache_timestamp ON cache(timestamp);

CREATE INDEX idx_backtest_config ON backtest_runs(config_name);

CREATE INDEX idx_backtest_date ON backtest_runs(start_date, end_date);

CREATE INDEX idx_trades_run ON backtest_trades(run_id);

CREATE INDEX idx_trades_ticker ON backtest_trades(ticker);

CREATE INDEX idx_trades_selected ON backtest_trades(selected);

CREATE INDEX idx_bias_ticker ON bias_predictions(ticker);

CREATE INDEX idx_bias_date ON bias_predictions(earnings_date);

CREATE INDEX idx_bias_strength ON bias_predictions(bias_strength);

CREATE INDEX idx_bias_validated ON bias_predictions(validated_at);

CREATE INDEX idx_chain_ticker ON option_chain_snapshots(ticker);

CREATE INDEX idx_chain_date ON option_chain_snapshots(earnings_date);

CREATE INDEX idx_iv_log_scan_date ON iv_log(scan_date);

CREATE INDEX idx_iv_log_earnings_date ON iv_log(earnings_date);

CREATE INDEX idx_iv_log_vrp ON iv_log(vrp_ratio DESC);

CREATE INDEX idx_iv_log_composite ON iv_log(scan_date, earnings_date, vrp_ratio DESC);

CREATE INDEX idx_moves_ticker_date ON historical_moves(ticker, earnings_date DESC);

CREATE INDEX idx_earnings_date_ticker ON earnings_calendar(earnings_date, ticker);

CREATE INDEX idx_journal_symbol ON trade_journal(symbol);

CREATE INDEX idx_journal_sale_date ON trade_journal(sale_date);

CREATE INDEX idx_journal_earnings ON trade_journal(earnings_date);

CREATE INDEX idx_api_budget_date_service
                ON api_budget(date, service)
            ;

CREATE INDEX idx_job_status_date
                ON job_status(date)
            ;

CREATE INDEX idx_sentiment_ticker_date
                ON sentiment_cache(ticker, earnings_date)
            ;

CREATE INDEX idx_vrp_ticker_date
                ON vrp_cache(ticker, earnings_date)
            ;

INSERT INTO schema_migrations VALUES (1, 'create_schema_migrations_table', '2025-11-23T09:49:59.332784', NULL);
INSERT INTO schema_migrations VALUES (2, 'add_cache_expiration_column', '2025-11-23T09:49:59.333446', NULL);
INSERT INTO schema_migrations VALUES (3, 'add_last_validated_at_column', '2025-12-08T09:36:24.790417', NULL);

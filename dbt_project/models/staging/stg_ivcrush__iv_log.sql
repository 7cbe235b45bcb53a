-- 2.0's pre-earnings scans, typed. scanned_at is when the scan was written (created_at, UTC),
-- or the close of the scan date where created_at is missing or unreadable.
select
    id as scan_id,
    upper(trim(ticker)) as ticker,
    cast(earnings_date as date) as earnings_date,
    cast(expiration as date) as expiration,
    cast(scan_date as date) as scan_date,
    coalesce(
        timezone('UTC', try_cast(created_at as timestamp)),
        {{ market_close_at('cast(scan_date as date)') }}
    ) as scanned_at,
    stock_price,
    atm_strike,
    straddle_cost,
    implied_move_pct,
    historical_mean_pct,
    historical_median_pct,
    historical_std_pct,
    vrp_ratio,
    lower(recommendation) as recommendation,
    quarters_of_data
from {{ source('ivcrush', 'iv_log') }}
where stock_price > 0 and implied_move_pct > 0

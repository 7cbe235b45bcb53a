-- Past earnings moves, typed. Moves are recomputed from OHLC; the stored absolute % columns are kept
-- for the data-quality checks that compare them.
select
    id as move_id,
    upper(trim(ticker)) as ticker,
    cast(earnings_date as date) as earnings_date,
    prev_close,
    earnings_open as open_price,
    earnings_high as high_price,
    earnings_low as low_price,
    earnings_close as close_price,
    volume_before,
    volume_earnings,
    close_move_pct as stored_close_move_pct,
    gap_move_pct as stored_gap_move_pct,
    intraday_move_pct as stored_intraday_move_pct,
    (earnings_close / prev_close - 1) * 100 as signed_close_move_pct,
    (earnings_open / prev_close - 1) * 100 as signed_gap_move_pct,
    (earnings_high - earnings_low) / prev_close * 100 as intraday_range_pct
from {{ source('ivcrush', 'historical_moves') }}
where prev_close > 0

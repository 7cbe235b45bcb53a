-- Targets of past events, recomputed from the stored OHLC. label_trusted is false where the stored row
-- does not describe the reaction day (by default every AMC row, see int_earnings_events_timed), unless the
-- market store's prices gave the reaction day's move (label_source = 'prices'). The stored and the price-based
-- close moves are both kept for the check that they agree on BMO rows.
select
    event_id,
    ticker,
    earnings_date,
    reaction_date,
    event_timestamp,
    outcome_known_at,
    timing,
    label_trusted,
    label_source,
    abs(signed_close_move_pct) as abs_close_move_pct,
    signed_close_move_pct,
    abs(signed_gap_move_pct) as abs_gap_move_pct,
    signed_gap_move_pct,
    intraday_range_pct,
    signed_close_move_pct > 0 as moved_up,
    prev_close,
    stored_signed_close_move_pct,
    price_signed_close_move_pct
from {{ ref('int_earnings_events_timed') }}
where has_outcome

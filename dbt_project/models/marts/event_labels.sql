-- Targets of past events, recomputed from the stored OHLC. label_trusted is false where the stored row
-- does not describe the reaction day (by default every AMC row, see int_earnings_events_timed).
select
    event_id,
    ticker,
    earnings_date,
    reaction_date,
    event_timestamp,
    outcome_known_at,
    timing,
    label_trusted,
    abs(signed_close_move_pct) as abs_close_move_pct,
    signed_close_move_pct,
    abs(signed_gap_move_pct) as abs_gap_move_pct,
    signed_gap_move_pct,
    intraday_range_pct,
    signed_close_move_pct > 0 as moved_up,
    prev_close
from {{ ref('int_earnings_events_timed') }}
where has_outcome

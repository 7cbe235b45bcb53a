-- The event model: one row per (ticker, earnings event), past and upcoming, placed in time.
select
    event_id,
    ticker,
    earnings_date,
    timing,
    is_confirmed,
    reaction_date,
    decision_date,
    event_timestamp,
    outcome_known_at,
    has_outcome,
    label_trusted,
    source_rows,
    merged_rows,
    timing_conflict
from {{ ref('int_earnings_events_timed') }}

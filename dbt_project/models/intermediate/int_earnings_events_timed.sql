-- Each event placed in time. The reaction day is the first session that trades on the news: the
-- earnings date for BMO/DMH (and UNKNOWN), the next trading day for AMC. The decision time
-- (event_timestamp) is the close of the trading day before the reaction day, when the position is
-- opened; the outcome is known at the close of the reaction day. A label is trusted only where the timing
-- places it: not AMC (2.0 stored those moves on the announcement day), not UNKNOWN, not conflicting.
with events as (
    select * from {{ ref('int_earnings_events_deduplicated') }}
),

days as (
    select * from {{ ref('int_trading_days_generated') }}
),

placed as (
    select
        events.*,
        case
            when events.timing = 'AMC' then on_day.next_trading_day
            else on_day.trading_day_on_or_after
        end as reaction_date
    from events
    inner join days as on_day on on_day.day = events.earnings_date
)

select
    placed.*,
    reaction_day.previous_trading_day as decision_date,
    {{ market_close_at('reaction_day.previous_trading_day') }} as event_timestamp,
    {{ market_close_at('placed.reaction_date') }} as outcome_known_at,
    placed.move_id is not null as has_outcome,
    placed.move_id is not null
    and not (placed.timing = 'AMC' and {{ var('amc_labels_untrusted') }})
    and not (placed.timing = 'UNKNOWN' and {{ var('unknown_timing_labels_untrusted') }})
    and placed.timing_conflict is not true
        as label_trusted
from placed
inner join days as reaction_day on reaction_day.day = placed.reaction_date

-- For each event, the same ticker's earlier events whose outcome was known strictly before the event's
-- decision time. recency_all ranks all of them from the most recent (1); recency ranks only the usable
-- ones (trusted labels, unless features_trusted_only is off) and is NULL for the others. Every
-- per-ticker window feature is built on these pairs, so no feature can see its own outcome or a later one.
with events as (
    select * from {{ ref('int_earnings_events_timed') }}
),

pairs as (
    select
        events.event_id,
        events.ticker,
        events.event_timestamp,
        prior.event_id as prior_event_id,
        prior.outcome_known_at as prior_outcome_known_at,
        prior.label_trusted as prior_label_trusted,
        {% if var('features_trusted_only') %}prior.label_trusted{% else %}true{% endif %} as prior_usable,
        abs(prior.signed_close_move_pct) as abs_close_move_pct,
        abs(prior.signed_gap_move_pct) as abs_gap_move_pct,
        prior.intraday_range_pct,
        prior.signed_close_move_pct,
        prior.signed_gap_move_pct,
        prior.prev_close,
        prior.open_price,
        prior.close_price,
        prior.volume_earnings / nullif(prior.volume_before, 0) as volume_surge
    from events
    inner join events as prior
        on prior.ticker = events.ticker
        and prior.has_outcome
        and prior.outcome_known_at < events.event_timestamp
)

select
    *,
    row_number() over (partition by event_id order by prior_outcome_known_at desc) as recency_all,
    case when prior_usable then
        row_number() over (partition by event_id, prior_usable order by prior_outcome_known_at desc)
    end as recency
from pairs

-- What the database tells about how a ticker trades through earnings, from its usable past events
-- known before the decision time: range and gap relative to the close move, volume surge, direction
-- habits; and, where the workspace's market store has daily prices, realised volatility, ATR, gaps and the
-- drift into the event from the bars closed before the decision time (NULL without prices: then the
-- off-reaction moves below stay the only ordinary-day volatility, a proxy).
with pairs as (
    select * from {{ ref('int_prior_events_paired') }}
    where recency <= 8
),

windowed as (
    select
        event_id,
        avg(intraday_range_pct) / nullif(avg(abs_close_move_pct), 0) as vol_range_to_close_8q,
        avg(abs_gap_move_pct) / nullif(avg(abs_close_move_pct), 0) as vol_gap_to_close_8q,
        avg(volume_surge) filter (where recency <= 4) as vol_volume_surge_mean_4q,
        avg(volume_surge) as vol_volume_surge_mean_8q,
        max(case when recency = 1 then volume_surge end) as vol_volume_surge_last,
        avg(case when signed_close_move_pct > 0 then 1.0 else 0.0 end) as vol_up_rate_8q,
        avg(signed_close_move_pct) as vol_signed_close_mean_8q,
        avg(
            case when sign(close_price - open_price) * sign(signed_gap_move_pct) < 0 then 1.0 else 0.0 end
        ) as vol_gap_reversal_rate_8q,
        ln(max(case when recency = 1 then prev_close end)) as vol_log_price_last,
        max(prior_outcome_known_at) as vol_inputs_known_at
    from pairs
    group by event_id
),

off_reaction as (
    -- Rows stored for a day that was not the reaction day (AMC announcement days): ordinary-day moves,
    -- a proxy of the ticker's daily volatility where no daily price source exists.
    select
        event_id,
        avg(abs_close_move_pct) as vol_off_reaction_abs_move_mean_8q,
        avg(intraday_range_pct) as vol_off_reaction_range_mean_8q,
        max(prior_outcome_known_at) as vol_off_reaction_inputs_known_at
    from {{ ref('int_prior_events_paired') }}
    where recency_all <= 8 and not prior_label_trusted
    group by event_id
)

select
    events.event_id,
    events.ticker,
    events.event_timestamp,
    windowed.* exclude (event_id),
    off_reaction.* exclude (event_id),
    prices.* exclude (event_id)
from {{ ref('int_earnings_events_timed') }} as events
left join windowed on windowed.event_id = events.event_id
left join off_reaction on off_reaction.event_id = events.event_id
left join {{ ref('int_event_price_windows_aggregated') }} as prices on prices.event_id = events.event_id

-- Cross-sectional state of the market at the decision time: how big all tickers' earnings moves were
-- in the trailing 30 and 90 days (outcomes known strictly before the decision time), the share of them
-- above 5%, and where the date sits in the quarter's earnings season. Only means, shares and ratios: a
-- count of events would track how much of the market the database covers, not the market. Where the
-- market store has the index (SPY) and VIX series: their trend, volatility and level before the decision
-- time (NULL without them). The means add their moves in one order (outcome time, then size): a float sum
-- in join order would change in its last bits when a later outcome is added, and the events' features with it.
with events as (
    select * from {{ ref('int_earnings_events_timed') }}
),

outcomes as (
    select outcome_known_at, abs(signed_close_move_pct) as abs_close_move_pct
    from events
    where has_outcome
    {% if var('features_trusted_only') %}and label_trusted{% endif %}
),

-- the windows' starts computed once per decision time: subtracting an interval from a timestamptz (time-zone
-- arithmetic) on each of the join's candidate pairs cost most of the model's time
decision_times as (
    select
        event_timestamp,
        event_timestamp - interval 30 day as window_30d_start,
        event_timestamp - interval 90 day as window_90d_start
    from (select distinct event_timestamp from events)
),

trailing_windows as (
    select
        decision_times.event_timestamp,
        avg(outcomes.abs_close_move_pct order by outcomes.outcome_known_at, outcomes.abs_close_move_pct) filter (
            where outcomes.outcome_known_at >= decision_times.window_30d_start
        ) as mkt_mean_abs_move_30d,
        avg((outcomes.abs_close_move_pct > 5)::double) filter (
            where outcomes.outcome_known_at >= decision_times.window_30d_start
        ) as mkt_big_move_share_30d,
        count(outcomes.abs_close_move_pct) filter (
            where outcomes.outcome_known_at >= decision_times.window_30d_start
        ) as events_30d,
        avg(outcomes.abs_close_move_pct order by outcomes.outcome_known_at, outcomes.abs_close_move_pct)
            as mkt_mean_abs_move_90d,
        avg((outcomes.abs_close_move_pct > 5)::double) as mkt_big_move_share_90d,
        count(outcomes.abs_close_move_pct) as events_90d,
        max(outcomes.outcome_known_at) as mkt_inputs_known_at
    from decision_times
    left join outcomes
        on outcomes.outcome_known_at < decision_times.event_timestamp
        and outcomes.outcome_known_at >= decision_times.window_90d_start
    group by decision_times.event_timestamp
)

select
    events.event_id,
    events.ticker,
    events.event_timestamp,
    windows.mkt_mean_abs_move_30d,
    windows.mkt_big_move_share_30d,
    windows.mkt_mean_abs_move_90d,
    windows.mkt_big_move_share_90d,
    windows.mkt_mean_abs_move_30d / nullif(windows.mkt_mean_abs_move_90d, 0) as mkt_move_ratio_30_90,
    windows.events_30d / nullif(windows.events_90d, 0) as mkt_season_intensity,
    events.reaction_date - date_trunc('quarter', events.reaction_date)::date as mkt_days_into_quarter,
    windows.mkt_inputs_known_at,
    series.* exclude (event_timestamp)
from events
inner join trailing_windows as windows on windows.event_timestamp = events.event_timestamp
left join {{ ref('int_market_windows_aggregated') }} as series on series.event_timestamp = events.event_timestamp

-- Per decision time: the index (SPY) and VIX series known strictly before it, the most recent bar first:
-- index trend (returns over 20/60 days, distance from its 50-day mean), its realised volatility, and the VIX
-- level, 5-day change and percentile among its last 252 closes. NULL where the store has no such series or
-- its newest bar before the decision is more than price_staleness_days old.
with decision_times as (
    select distinct event_timestamp, decision_date from {{ ref('int_earnings_events_timed') }}
),

recent as (
    select
        decision_times.event_timestamp,
        decision_times.decision_date,
        bars.price_date,
        bars.ticker,
        bars.close_price,
        bars.log_return,
        bars.known_at,
        row_number() over (
            partition by decision_times.event_timestamp, bars.ticker order by bars.price_date desc
        ) as age
    from decision_times
    inner join {{ ref('int_daily_bars_sequenced') }} as bars
        on bars.ticker in ('{{ var("index_ticker") }}', '{{ var("vix_ticker") }}')
        and bars.known_at < decision_times.event_timestamp
        and bars.price_date >= decision_times.decision_date - interval 380 day
),

latest as (
    select *, first_value(close_price) over (partition by event_timestamp, ticker order by age) as latest_close
    from recent
    where age <= 252
),

index_windows as (
    select
        event_timestamp,
        (max(close_price) filter (where age = 1) / max(close_price) filter (where age = 21) - 1) * 100
            as mkt_index_return_20d_pct,
        (max(close_price) filter (where age = 1) / max(close_price) filter (where age = 61) - 1) * 100
            as mkt_index_return_60d_pct,
        case when count(*) filter (where age <= 50) = 50
            then (max(close_price) filter (where age = 1) / avg(close_price) filter (where age <= 50) - 1) * 100
        end as mkt_index_vs_ma50_pct,
        case when count(log_return) filter (where age <= 20) >= 15
            then stddev_samp(log_return) filter (where age <= 20) * 100 end as mkt_index_realized_20d_pct,
        max(known_at) as mkt_index_inputs_known_at
    from latest
    where ticker = '{{ var("index_ticker") }}'
    group by event_timestamp, decision_date
    having max(price_date) >= decision_date - interval {{ var('price_staleness_days') }} day
),

vix_windows as (
    select
        event_timestamp,
        max(close_price) filter (where age = 1) as mkt_vix_level,
        (max(close_price) filter (where age = 1) / max(close_price) filter (where age = 6) - 1) * 100
            as mkt_vix_change_5d_pct,
        case when count(*) >= 126 then avg((close_price <= latest_close)::double) end as mkt_vix_percentile_252d,
        max(known_at) as mkt_vix_inputs_known_at
    from latest
    where ticker = '{{ var("vix_ticker") }}'
    group by event_timestamp, decision_date
    having max(price_date) >= decision_date - interval {{ var('price_staleness_days') }} day
)

select
    decision_times.event_timestamp,
    index_windows.* exclude (event_timestamp),
    vix_windows.* exclude (event_timestamp)
from decision_times
left join index_windows on index_windows.event_timestamp = decision_times.event_timestamp
left join vix_windows on vix_windows.event_timestamp = decision_times.event_timestamp

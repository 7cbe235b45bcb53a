-- Per event: the ticker's daily bars known strictly before the decision time (closed before it), the most
-- recent first (age 1), summarised: realised volatility over 10/20/60 days, average true range, opening gaps,
-- and the drift into the event. NULL where the market store has too few bars (or none), or where its newest
-- bar before the decision is more than price_staleness_days old.
{%- set min_share = 0.75 %}
with events as (
    select event_id, ticker, event_timestamp, decision_date from {{ ref('int_earnings_events_timed') }}
),

recent as (
    select
        events.event_id,
        events.decision_date,
        bars.price_date,
        bars.log_return,
        bars.gap_return,
        bars.true_range_share,
        bars.close_price,
        bars.known_at,
        row_number() over (partition by events.event_id order by bars.price_date desc) as age
    from events
    inner join {{ ref('int_daily_bars_sequenced') }} as bars
        on bars.ticker = events.ticker
        and bars.known_at < events.event_timestamp
        and bars.price_date >= events.decision_date - interval 130 day
),

windowed as (
    select
        event_id,
        {%- for n in [10, 20, 60] %}
        case when count(log_return) filter (where age <= {{ n }}) >= {{ (n * min_share) | int }}
            then stddev_samp(log_return) filter (where age <= {{ n }}) * 100 end as vol_realized_{{ n }}d_pct,
        {%- endfor %}
        case when count(true_range_share) filter (where age <= 14) >= 10
            then avg(true_range_share) filter (where age <= 14) * 100 end as vol_atr_14d_pct,
        case when count(gap_return) filter (where age <= 20) >= 15
            then avg(abs(gap_return)) filter (where age <= 20) * 100 end as vol_gap_abs_mean_20d_pct,
        case when count(gap_return) filter (where age <= 60) >= 45
            then max(abs(gap_return)) filter (where age <= 60) * 100 end as vol_gap_abs_max_60d_pct,
        (max(close_price) filter (where age = 1) / max(close_price) filter (where age = 6) - 1) * 100
            as vol_drift_5d_pct,
        (max(close_price) filter (where age = 1) / max(close_price) filter (where age = 21) - 1) * 100
            as vol_drift_20d_pct,
        max(known_at) as vol_price_inputs_known_at
    from recent
    where age <= 60
    group by event_id, decision_date
    having max(price_date) >= decision_date - interval {{ var('price_staleness_days') }} day
)

select * from windowed

-- Per ticker: statistics of its last 1/2/4/8/12 usable earnings moves (trusted ones by default), known
-- strictly before the decision time. One row per event; NULL where the ticker has no usable history.
{%- set windows = [2, 4, 8, 12] %}
{%- set measures = {'close': 'abs_close_move_pct', 'gap': 'abs_gap_move_pct', 'intraday': 'intraday_range_pct'} %}
with pairs as (
    select * from {{ ref('int_prior_events_paired') }}
    where recency <= 12
),

all_rows as (
    -- 2.0's own history statistic: every stored row, whatever its timing, as 2.0 computes it.
    select
        event_id,
        avg(abs_close_move_pct) filter (where recency_all <= 12) as hm_close_mean_12q_all_rows,
        median(abs_close_move_pct) filter (where recency_all <= 8) as hm_close_median_8q_all_rows,
        avg(intraday_range_pct) filter (where recency_all <= 12) as hm_intraday_mean_12q_all_rows,
        count(*) as hm_prior_events_all_rows,
        max(prior_outcome_known_at) as hm_all_rows_inputs_known_at
    from {{ ref('int_prior_events_paired') }}
    where recency_all <= 12
    group by event_id
),

windowed as (
    select
        event_id,
        {%- for name, column in measures.items() %}
        max(case when recency = 1 then {{ column }} end) as hm_{{ name }}_last,
        {%- for n in windows %}
        avg({{ column }}) filter (where recency <= {{ n }}) as hm_{{ name }}_mean_{{ n }}q,
        median({{ column }}) filter (where recency <= {{ n }}) as hm_{{ name }}_median_{{ n }}q,
        stddev_samp({{ column }}) filter (where recency <= {{ n }}) as hm_{{ name }}_std_{{ n }}q,
        min({{ column }}) filter (where recency <= {{ n }}) as hm_{{ name }}_min_{{ n }}q,
        max({{ column }}) filter (where recency <= {{ n }}) as hm_{{ name }}_max_{{ n }}q,
        {%- endfor %}
        {%- endfor %}
        regr_slope(abs_close_move_pct, -recency) filter (where recency <= 8) as hm_close_trend_8q,
        max(abs_close_move_pct) / nullif(avg(abs_close_move_pct), 0) as hm_close_tail_ratio_12q,
        stddev_samp(abs_close_move_pct) / nullif(avg(abs_close_move_pct), 0) as hm_close_cv_12q,
        max(prior_outcome_known_at) as hm_inputs_known_at
    from pairs
    group by event_id
),

counts as (
    select event_id, count(*) as hm_prior_events
    from {{ ref('int_prior_events_paired') }}
    where recency is not null
    group by event_id
)

select
    events.event_id,
    events.ticker,
    events.event_timestamp,
    coalesce(counts.hm_prior_events, 0) as hm_prior_events,
    coalesce(all_rows.hm_prior_events_all_rows, 0) as hm_prior_events_all_rows,
    windowed.* exclude (event_id),
    all_rows.* exclude (event_id, hm_prior_events_all_rows)
from {{ ref('int_earnings_events_timed') }} as events
left join windowed on windowed.event_id = events.event_id
left join counts on counts.event_id = events.event_id
left join all_rows on all_rows.event_id = events.event_id

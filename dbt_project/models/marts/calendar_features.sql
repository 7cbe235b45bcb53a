-- Time and calendar facts known before the decision time: timing, weekday/month/quarter of the
-- reaction day, days since the ticker's previous event and length of its history.
with events as (
    select * from {{ ref('int_earnings_events_timed') }}
),

sequenced as (
    select
        *,
        lag(reaction_date) over (partition by ticker order by reaction_date) as previous_reaction_date,
        min(reaction_date) over (partition by ticker) as first_reaction_date
    from events
)

select
    event_id,
    ticker,
    event_timestamp,
    timing as cal_timing,
    case when timing = 'AMC' then 1 else 0 end as cal_is_amc,
    case when timing = 'BMO' then 1 else 0 end as cal_is_bmo,
    case when is_confirmed then 1 else 0 end as cal_is_confirmed,
    isodow(reaction_date) as cal_weekday,
    month(reaction_date) as cal_month,
    quarter(reaction_date) as cal_quarter,
    reaction_date - previous_reaction_date as cal_days_since_last_event,
    reaction_date - first_reaction_date as cal_history_days
from sequenced

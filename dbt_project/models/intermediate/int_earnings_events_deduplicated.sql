-- One row per (ticker, earnings event): the calendar and the stored moves joined, with entries of one
-- ticker that lie within duplicate_event_window_days of each other collapsed into one event. The kept
-- row is the one with a stored move (the move dates the event), then a confirmed one, then the most
-- recently updated, then one of known timing, then the earliest date. The other rows are listed in
-- merged_rows; rows of one event with different known timings (AMC vs BMO) set timing_conflict, which
-- makes the event's label untrusted.
with moves as (
    select * from {{ ref('stg_ivcrush__historical_moves') }}
),

calendar as (
    select * from {{ ref('stg_ivcrush__earnings_calendar') }}
),

joined as (
    select
        coalesce(moves.ticker, calendar.ticker) as ticker,
        coalesce(moves.earnings_date, calendar.earnings_date) as earnings_date,
        coalesce(calendar.timing, 'UNKNOWN') as timing,
        coalesce(calendar.is_confirmed, false) as is_confirmed,
        calendar.updated_at as calendar_updated_at,
        calendar.ticker is not null as in_calendar,
        moves.move_id,
        moves.prev_close,
        moves.open_price,
        moves.high_price,
        moves.low_price,
        moves.close_price,
        moves.volume_before,
        moves.volume_earnings,
        moves.signed_close_move_pct,
        moves.signed_gap_move_pct,
        moves.intraday_range_pct
    from moves
    full outer join calendar
        on moves.ticker = calendar.ticker and moves.earnings_date = calendar.earnings_date
),

clustered as (
    select
        *,
        sum(starts_new_event) over (
            partition by ticker order by earnings_date rows unbounded preceding
        ) as event_number
    from (
        select
            *,
            case
                when earnings_date - lag(earnings_date) over (partition by ticker order by earnings_date)
                    < {{ var('duplicate_event_window_days') }}
                then 0 else 1
            end as starts_new_event
        from joined
    )
),

ranked as (
    select
        *,
        count(*) over (partition by ticker, event_number) as source_rows,
        row_number() over (
            partition by ticker, event_number
            order by
                move_id is not null desc,
                is_confirmed desc,
                calendar_updated_at desc nulls last,
                timing <> 'UNKNOWN' desc,
                earnings_date
        ) as preference
    from clustered
),

merged as (
    select
        ticker,
        event_number,
        string_agg(
            strftime(earnings_date, '%Y-%m-%d') || ' ' || timing
            || case when is_confirmed then ' confirmed' else '' end,
            ', '
            order by earnings_date
        ) filter (where preference > 1) as merged_rows,
        count(distinct timing) filter (where timing <> 'UNKNOWN') > 1 as timing_conflict
    from ranked
    group by ticker, event_number
)

select
    ranked.ticker || ':' || strftime(ranked.earnings_date, '%Y-%m-%d') as event_id,
    ranked.* exclude (starts_new_event, event_number, preference, calendar_updated_at),
    merged.merged_rows,
    merged.timing_conflict
from ranked
inner join merged
    on ranked.ticker = merged.ticker and ranked.event_number = merged.event_number
where ranked.preference = 1

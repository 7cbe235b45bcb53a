-- Every calendar day with the US equity market's trading days marked (weekdays that are not NYSE
-- full-day holidays), and for each day the neighbouring trading days.
with days as (
    select cast(day as date) as day
    from generate_series(
        cast('{{ var("trading_calendar_start") }}' as date),
        cast('{{ var("trading_calendar_end") }}' as date),
        interval 1 day
    ) as series(day)
),

marked as (
    select
        days.day,
        isodow(days.day) <= 5 and holidays.holiday_date is null as is_trading_day
    from days
    left join {{ ref('market_holidays') }} as holidays on holidays.holiday_date = days.day
)

select
    day,
    is_trading_day,
    min(case when is_trading_day then day end) over (
        order by day rows between current row and 10 following
    ) as trading_day_on_or_after,
    min(case when is_trading_day then day end) over (
        order by day rows between 1 following and 11 following
    ) as next_trading_day,
    max(case when is_trading_day then day end) over (
        order by day rows between 11 preceding and 1 preceding
    ) as previous_trading_day
from marked

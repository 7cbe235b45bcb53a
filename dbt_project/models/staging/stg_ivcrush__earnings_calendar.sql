-- Earnings calendar, typed; timing outside 2.0's accepted set becomes UNKNOWN.
select
    upper(trim(ticker)) as ticker,
    cast(earnings_date as date) as earnings_date,
    case
        when upper(trim(timing)) in ('BMO', 'AMC', 'DMH') then upper(trim(timing))
        else 'UNKNOWN'
    end as timing,
    coalesce(confirmed, 0) = 1 as is_confirmed
from {{ source('ivcrush', 'earnings_calendar') }}

-- Earnings calendar, typed; timing outside 2.0's accepted set becomes UNKNOWN; updated_at is when 2.0 last
-- wrote the row (NULL where it does not parse).
select
    upper(trim(ticker)) as ticker,
    cast(earnings_date as date) as earnings_date,
    case
        when upper(trim(timing)) in ('BMO', 'AMC', 'DMH') then upper(trim(timing))
        else 'UNKNOWN'
    end as timing,
    coalesce(confirmed, 0) = 1 as is_confirmed,
    try_cast(updated_at as timestamp) as updated_at
from {{ source('ivcrush', 'earnings_calendar') }}

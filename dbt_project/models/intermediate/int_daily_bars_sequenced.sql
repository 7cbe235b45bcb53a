-- Each daily bar with the previous trading day's close: the close-to-close log return, the opening gap and
-- the true range. NULL where the previous trading day's bar is missing (a gap in the data is not one day).
with bars as (
    select
        *,
        lag(price_date) over (partition by ticker order by price_date) as stored_previous_date,
        lag(close_price) over (partition by ticker order by price_date) as stored_previous_close
    from {{ ref('stg_market__daily_prices') }}
),

sequenced as (
    select
        bars.* exclude (stored_previous_date, stored_previous_close),
        case when bars.stored_previous_date = days.previous_trading_day then bars.stored_previous_close end
            as previous_close
    from bars
    left join {{ ref('int_trading_days_generated') }} as days on days.day = bars.price_date
)

select
    *,
    ln(close_price / previous_close) as log_return,
    open_price / previous_close - 1 as gap_return,
    (greatest(high_price, previous_close) - least(low_price, previous_close)) / previous_close as true_range_share
from sequenced

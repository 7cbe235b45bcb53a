-- Daily bars of the market store, typed, each stamped with the moment it is known: its 16:00 New York close.
select
    upper(trim(ticker)) as ticker,
    cast(date as date) as price_date,
    open as open_price,
    high as high_price,
    low as low_price,
    close as close_price,
    volume,
    {{ market_close_at('date') }} as known_at
from {{ source('market', 'daily_prices') }}
where close > 0

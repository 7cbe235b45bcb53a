-- Option quotes of the market store, typed, with their mid price.
select
    upper(trim(ticker)) as ticker,
    as_of as quoted_at,
    cast(expiration as date) as expiration,
    strike,
    case when upper(type) in ('C', 'CALL') then 'C' else 'P' end as option_type,
    bid,
    ask,
    (bid + ask) / 2 as mid,
    iv as implied_volatility
from {{ source('market', 'option_quotes') }}
where strike > 0 and ask >= bid and bid >= 0

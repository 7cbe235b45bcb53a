-- Closed tax lots of single legs (the broker's realized gain/loss export), in trading order. The one place
-- where a lot's dates and side are derived:
-- - entry/exit: a credit leg is sold before it is bought back, so its sale_date comes before its
--   acquired_date; entry = the earlier date, exit = the later. A missing acquired_date is the sale date.
-- - is_short (sold to open): sale before acquisition. A lot opened and closed on the same day cannot tell by
--   its dates: it is short when it is an option with a zero cost basis (sold and expired worthless the same
--   day, e.g. a 0-DTE put: nothing was paid for it), else long (bought and sold the same day).
with lots as (
    select
        id as lot_id,
        upper(trim(symbol)) as symbol,
        cast(acquired_date as date) as acquired_date,
        cast(sale_date as date) as sale_date,
        coalesce(cast(acquired_date as date), cast(sale_date as date)) as acquired_or_sale_date,
        upper(option_type) as option_type,
        strike,
        cast(expiration as date) as expiration,
        quantity,
        cost_basis,
        proceeds,
        gain_loss,
        coalesce(wash_sale_amount, 0) as wash_sale_amount,
        term,
        cast(earnings_date as date) as journal_earnings_date
    from {{ source('ivcrush', 'trade_journal') }}
)

select
    lot_id,
    symbol,
    acquired_date,
    sale_date,
    least(acquired_or_sale_date, sale_date) as entry_date,
    greatest(acquired_or_sale_date, sale_date) as exit_date,
    coalesce(
        sale_date < acquired_or_sale_date
        or (sale_date = acquired_or_sale_date and coalesce(cost_basis, 0) = 0 and option_type is not null),
        false
    ) as is_short,
    option_type,
    strike,
    expiration,
    quantity,
    cost_basis,
    proceeds,
    gain_loss,
    wash_sale_amount,
    term,
    journal_earnings_date
from lots

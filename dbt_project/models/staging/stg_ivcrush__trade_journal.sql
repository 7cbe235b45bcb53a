-- Closed tax lots of single legs. Credit legs are sold before they are bought back, so the broker's
-- sale_date comes before acquired_date: entry/exit put the dates in trading order.
select
    id as lot_id,
    upper(trim(symbol)) as symbol,
    cast(acquired_date as date) as acquired_date,
    cast(sale_date as date) as sale_date,
    least(coalesce(cast(acquired_date as date), cast(sale_date as date)), cast(sale_date as date)) as entry_date,
    greatest(coalesce(cast(acquired_date as date), cast(sale_date as date)), cast(sale_date as date)) as exit_date,
    coalesce(cast(sale_date as date) < cast(acquired_date as date), false) as is_credit_leg,
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

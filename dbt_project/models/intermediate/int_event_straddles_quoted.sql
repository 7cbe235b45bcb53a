-- Per event: the market store's latest option-chain snapshot quoted before the decision time (within
-- quote_max_age_days), its at-the-money straddle (the strike where call and put mids are closest) of the front
-- expiration on or after the reaction day and of the next one. The spot is read from put-call parity at that
-- strike (K + C - P); implied moves are straddle / spot in %, T counts the trading days after the quote's day
-- up to the expiration. With both expirations, the term structure splits the front's implied move into an
-- ordinary-day move o and the earnings-only move e: o^2 = (back^2 - front^2) / (T_back - T_front),
-- e^2 = front^2 - (T_front - 1) o^2 (the same split as serving's pricing.term_structure_split).
with events as (
    select event_id, ticker, event_timestamp, reaction_date from {{ ref('int_earnings_events_timed') }}
),

quotes as (
    select * from {{ ref('stg_market__option_quotes') }}
),

snapshots as (
    select events.event_id, max(quotes.quoted_at) as quoted_at
    from events
    inner join quotes
        on quotes.ticker = events.ticker
        and quotes.quoted_at < events.event_timestamp
        and quotes.quoted_at >= events.event_timestamp - interval {{ var('quote_max_age_days') }} day
        and quotes.expiration >= events.reaction_date
    group by events.event_id
),

straddles as (
    select
        snapshots.event_id,
        snapshots.quoted_at,
        events.reaction_date,
        calls.expiration,
        calls.strike,
        calls.mid as call_mid,
        puts.mid as put_mid,
        row_number() over (
            partition by snapshots.event_id, calls.expiration order by abs(calls.mid - puts.mid), calls.strike
        ) as closeness
    from snapshots
    inner join events on events.event_id = snapshots.event_id
    inner join quotes as calls
        on calls.ticker = events.ticker and calls.quoted_at = snapshots.quoted_at and calls.option_type = 'C'
        and calls.expiration >= events.reaction_date
    inner join quotes as puts
        on puts.ticker = calls.ticker and puts.quoted_at = calls.quoted_at and puts.expiration = calls.expiration
        and puts.strike = calls.strike and puts.option_type = 'P'
    where calls.mid > 0 and puts.mid > 0
),

expirations as (
    select
        straddles.*,
        row_number() over (partition by event_id order by expiration) as expiration_rank,
        (
            select count(*) from {{ ref('int_trading_days_generated') }} as days
            where days.is_trading_day
                and days.day > cast(timezone('America/New_York', straddles.quoted_at) as date)
                and days.day <= straddles.expiration
        ) as trading_days
    from straddles
    where closeness = 1
),

front_and_back as (
    select
        front.event_id,
        front.reaction_date,
        front.quoted_at,
        front.expiration,
        front.strike + front.call_mid - front.put_mid as spot,
        front.trading_days as front_days,
        back.trading_days as back_days,
        (front.call_mid + front.put_mid) / (front.strike + front.call_mid - front.put_mid) * 100 as front_move,
        (back.call_mid + back.put_mid) / (front.strike + front.call_mid - front.put_mid) * 100 as back_move
    from expirations as front
    left join expirations as back on back.event_id = front.event_id and back.expiration_rank = 2
    where front.expiration_rank = 1
),

split as (
    select
        *,
        case when back_days > front_days and back_move > front_move
            then (back_move * back_move - front_move * front_move) / (back_days - front_days)
        end as ordinary_variance
    from front_and_back
    where spot > 0
)

select
    event_id,
    front_move as opt_quote_implied_move_pct,
    case when front_move * front_move - (greatest(front_days, 1) - 1) * ordinary_variance > 0
        then sqrt(front_move * front_move - (greatest(front_days, 1) - 1) * ordinary_variance)
    end as opt_quote_earnings_move_pct,
    sqrt(ordinary_variance) as opt_quote_ordinary_move_pct,
    front_days as opt_quote_trading_days,
    spot as opt_quote_spot,
    expiration - reaction_date as opt_quote_expiration_days,
    quoted_at as opt_quote_inputs_known_at
from split

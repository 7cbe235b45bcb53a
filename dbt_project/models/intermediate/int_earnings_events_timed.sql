-- Each event placed in time. The reaction day is the first session that trades on the news: the
-- earnings date for BMO/DMH (and UNKNOWN), the next trading day for AMC. The decision time
-- (event_timestamp) is the close of the trading day before the reaction day, when the position is
-- opened; the outcome is known at the close of the reaction day.
-- Where the market store has the reaction day's bar and the decision day's close, the moves are recomputed
-- from them (label_source = 'prices') and trusted for known timings (AMC included: the prices show the
-- reaction day, not 2.0's announcement day); elsewhere the stored row stands (label_source = 'stored') and is
-- trusted only where the timing places it: not AMC (2.0 stored those moves on the announcement day), not
-- UNKNOWN. Rows of one event with conflicting timings leave its reaction day unknown: never trusted.
with events as (
    select * from {{ ref('int_earnings_events_deduplicated') }}
),

days as (
    select * from {{ ref('int_trading_days_generated') }}
),

placed as (
    select
        events.*,
        case
            when events.timing = 'AMC' then on_day.next_trading_day
            else on_day.trading_day_on_or_after
        end as reaction_date
    from events
    inner join days as on_day on on_day.day = events.earnings_date
),

timed as (
    select
        placed.*,
        reaction_day.previous_trading_day as decision_date,
        bars.previous_close as price_prev_close,
        bars.open_price as price_open,
        bars.high_price as price_high,
        bars.low_price as price_low,
        bars.close_price as price_close,
        bars.volume as price_volume,
        bars.previous_close is not null and placed.timing in ('BMO', 'AMC', 'DMH') as priced
    from placed
    inner join days as reaction_day on reaction_day.day = placed.reaction_date
    left join {{ ref('int_daily_bars_sequenced') }} as bars
        on bars.ticker = placed.ticker and bars.price_date = placed.reaction_date
),

labelled as (
    select
        timed.* exclude (prev_close, open_price, high_price, low_price, close_price, volume_before,
            volume_earnings, signed_close_move_pct, signed_gap_move_pct, intraday_range_pct, price_volume),
        case when priced then price_prev_close else prev_close end as prev_close,
        case when priced then price_open else open_price end as open_price,
        case when priced then price_high else high_price end as high_price,
        case when priced then price_low else low_price end as low_price,
        case when priced then price_close else close_price end as close_price,
        case when priced then previous_bar.previous_volume else volume_before end as volume_before,
        case when priced then price_volume else volume_earnings end as volume_earnings,
        case when priced then (price_close / price_prev_close - 1) * 100 else signed_close_move_pct end
            as signed_close_move_pct,
        case when priced then (price_open / price_prev_close - 1) * 100 else signed_gap_move_pct end
            as signed_gap_move_pct,
        case when priced then (price_high - price_low) / price_prev_close * 100 else intraday_range_pct end
            as intraday_range_pct,
        signed_close_move_pct as stored_signed_close_move_pct,
        (price_close / price_prev_close - 1) * 100 as price_signed_close_move_pct
    from timed
    left join (
        select ticker, price_date, volume as previous_volume from {{ ref('stg_market__daily_prices') }}
    ) as previous_bar
        on previous_bar.ticker = timed.ticker and previous_bar.price_date = timed.decision_date
)

select
    labelled.*,
    {{ market_close_at('decision_date') }} as event_timestamp,
    {{ market_close_at('reaction_date') }} as outcome_known_at,
    move_id is not null or priced as has_outcome,
    case when priced then 'prices' when move_id is not null then 'stored' end as label_source,
    (
        priced
        or (
            move_id is not null
            and not (timing = 'AMC' and {{ var('amc_labels_untrusted') }})
            and not (timing = 'UNKNOWN' and {{ var('unknown_timing_labels_untrusted') }})
        )
    )
    and timing_conflict is not true as label_trusted
from labelled

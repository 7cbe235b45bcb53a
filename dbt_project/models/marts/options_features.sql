-- 2.0's latest pre-earnings scan of the event written before the decision time: implied move,
-- straddle, 2.0's historical mean and VRP. NULL where no scan exists (most past events). And, where the
-- market store has option quotes before the decision time: the front ATM straddle's implied move and its
-- earnings-only and ordinary-day parts from the term structure (opt_quote_*).
with events as (
    select * from {{ ref('int_earnings_events_timed') }}
),

scans as (
    select
        events.event_id,
        iv.*,
        count(*) over (partition by events.event_id) as scans_before_decision,
        row_number() over (partition by events.event_id order by iv.scanned_at desc, iv.scan_id desc) as latest
    from events
    inner join {{ ref('stg_ivcrush__iv_log') }} as iv
        on iv.ticker = events.ticker
        and abs(iv.earnings_date - events.earnings_date) < {{ var('duplicate_event_window_days') }}
        and iv.scanned_at < events.event_timestamp
)

select
    events.event_id,
    events.ticker,
    events.event_timestamp,
    scans.implied_move_pct as opt_implied_move_pct,
    scans.straddle_cost as opt_straddle_cost,
    scans.stock_price as opt_stock_price,
    scans.historical_mean_pct as opt_hist_mean_pct_2_0,
    scans.vrp_ratio as opt_vrp_ratio_2_0,
    scans.expiration - events.reaction_date as opt_days_to_expiration,
    events.decision_date - scans.scan_date as opt_scan_age_days,
    coalesce(scans.scans_before_decision, 0) as opt_scans_before_decision,
    scans.scanned_at as opt_inputs_known_at,
    quoted.* exclude (event_id)
from events
left join scans on scans.event_id = events.event_id and scans.latest = 1
left join {{ ref('int_event_straddles_quoted') }} as quoted on quoted.event_id = events.event_id

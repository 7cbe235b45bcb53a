-- Fails on any feature row that used an input known at or after its event's decision time. Each mart
-- records the newest input it used (*_inputs_known_at); the pairs every window is built on are checked too.
{%- set checks = [
    ('int_prior_events_paired', 'prior_outcome_known_at'),
    ('historical_move_features', 'hm_inputs_known_at'),
    ('historical_move_features', 'hm_all_rows_inputs_known_at'),
    ('volatility_features', 'vol_inputs_known_at'),
    ('volatility_features', 'vol_off_reaction_inputs_known_at'),
    ('market_regime_features', 'mkt_inputs_known_at'),
    ('volatility_features', 'vol_price_inputs_known_at'),
    ('market_regime_features', 'mkt_index_inputs_known_at'),
    ('market_regime_features', 'mkt_vix_inputs_known_at'),
    ('options_features', 'opt_inputs_known_at'),
    ('options_features', 'opt_quote_inputs_known_at'),
] %}
{%- for model, column in checks %}
select '{{ model }}' as model, event_id, event_timestamp, {{ column }} as input_known_at
from {{ ref(model) }}
where {{ column }} >= event_timestamp
{% if not loop.last %}union all{% endif %}
{%- endfor %}

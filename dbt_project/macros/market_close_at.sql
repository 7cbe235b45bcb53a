{% macro market_close_at(date_expr) -%}
    {#- 16:00 New York time on the given date, as a UTC timestamp with time zone. -#}
    timezone('America/New_York', cast({{ date_expr }} as timestamp) + interval 16 hour)
{%- endmacro %}

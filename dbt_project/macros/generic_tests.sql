{% test unique_combination(model, columns) %}
    {#- Fails on every combination of `columns` that occurs more than once. -#}
    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression, column_name=none) %}
    {#- Fails on every row where `expression` is false. -#}
    select * from {{ model }} where not ({{ expression }})
{% endtest %}

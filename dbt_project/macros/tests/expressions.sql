{#- A share or rate: between 0 and 1 when not null. -#}
{% test is_share(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0 or {{ column_name }} > 1
{% endtest %}

{#- `expression` holds on every row. -#}
{% test expression_holds(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)
{% endtest %}

{#- Fails with every row dated before the product's data start (2022-02-04, UTC). -#}
{% test not_before_data_start(model, column_name) %}
    select *
    from {{ model }}
    where cast({{ column_name }} as timestamp) < {{ data_start_at() }}
{% endtest %}

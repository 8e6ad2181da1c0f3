{% macro data_start_at() -%}
    cast('{{ var("data_start_at") }}' as timestamp)
{%- endmacro %}

{% macro session_timeout_end(timestamp_expression) -%}
    {{ dbt.dateadd('minute', var('session_timeout_minutes'), timestamp_expression) }}
{%- endmacro %}

{#- A struct of the given columns (ordered field by field, so min() picks the first by all). -#}
{% macro ordered_struct(columns) -%}
    {{ return(adapter.dispatch('ordered_struct', 'botmeter')(columns)) }}
{%- endmacro %}

{% macro default__ordered_struct(columns) -%}
    named_struct({% for c in columns %}'{{ c }}', {{ c }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{% macro duckdb__ordered_struct(columns) -%}
    struct_pack({% for c in columns %}{{ c }} := {{ c }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{#- Aggregate: `value` of the group's first row by `order_columns` (a NULL value on that row
    stays NULL, like numbering the rows and keeping row 1, but in one hash aggregate instead
    of a sort of every row). -#}
{% macro first_by(value, order_columns) -%}
    {{ return(adapter.dispatch('first_by', 'botmeter')(value, order_columns)) }}
{%- endmacro %}

{% macro default__first_by(value, order_columns) -%}
    min_by({{ value }}, {{ ordered_struct(order_columns) }})
{%- endmacro %}

{% macro duckdb__first_by(value, order_columns) -%}
    arg_min_null({{ value }}, {{ ordered_struct(order_columns) }})
{%- endmacro %}

{#- The sum of a double column computed exactly (in decimals of 18 places), so that it does not
    depend on the order the rows were added: an incremental build equals a full refresh bit
    for bit. -#}
{% macro exact_sum(expression) -%}
    sum(cast({{ expression }} as decimal(38, 18)))
{%- endmacro %}

{#- An API call failed: a status code of 400 or more, or none at all. -#}
{% macro api_call_is_error(status_code) -%}
    coalesce({{ status_code }} >= 400, true)
{%- endmacro %}

{% macro data_start_at() -%}
    cast('{{ var("data_start_at") }}' as timestamp)
{%- endmacro %}

{% macro session_timeout_end(timestamp_expression) -%}
    {{ add_to_timestamp('minute', var('session_timeout_minutes'), timestamp_expression) }}
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
    sum({{ decimal_of_double(expression) }})
{%- endmacro %}

{#- A double as decimal(38, 18): round(x * 1e18) ten-quintillionths, which is DuckDB's own cast
    (checked on 400,000 values). Spark's cast goes through the double's shortest text and
    would differ in the last places, so there the same integer is formatted and read back. -#}
{% macro decimal_of_double(expression) -%}
    {{ return(adapter.dispatch('decimal_of_double', 'botmeter')(expression)) }}
{%- endmacro %}

{% macro default__decimal_of_double(expression) -%}
    cast({{ expression }} as decimal(38, 18))
{%- endmacro %}

{% macro spark__decimal_of_double(expression) -%}
    {%- set units = 'abs(cast(round(' ~ expression ~ ' * 1e18, 0) as bigint))' -%}
    cast(concat(
        case when {{ expression }} < 0 and {{ units }} > 0 then '-' else '' end,
        cast({{ units }} div 1000000000000000000 as string),
        '.',
        lpad(cast({{ units }} % 1000000000000000000 as string), 18, '0')
    ) as decimal(38, 18))
{%- endmacro %}

{#- An API call failed: a status code of 400 or more, or none at all. -#}
{% macro api_call_is_error(status_code) -%}
    coalesce({{ status_code }} >= 400, true)
{%- endmacro %}

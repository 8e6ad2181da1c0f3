{#- Small differences between the engines, one macro each (DuckDB is the default engine,
    Spark the scale-out one: docs/spark.md). -#}

{#- A CTE hint: `materialized` (read on every step of a recursion) or `not materialized`
    (inline a CTE read twice instead of buffering it). DuckDB only; elsewhere nothing. -#}
{% macro cte_hint(hint) -%}
    {{ return(adapter.dispatch('cte_hint', 'botmeter')(hint)) }}
{%- endmacro %}

{% macro default__cte_hint(hint) -%}{%- endmacro %}

{% macro duckdb__cte_hint(hint) -%}{{ hint }}{%- endmacro %}

{#- Exact microseconds from `start` to `end` (timestamps), as a bigint. -#}
{% macro microseconds_between(start, end) -%}
    {{ return(adapter.dispatch('microseconds_between', 'botmeter')(start, end)) }}
{%- endmacro %}

{% macro default__microseconds_between(start, end) -%}
    {{ dbt.datediff(start, end, 'microsecond') }}
{%- endmacro %}

{% macro spark__microseconds_between(start, end) -%}
    (unix_micros({{ end }}) - unix_micros({{ start }}))
{%- endmacro %}

{#- `timestamp_expression` plus `amount` hours or minutes, to the microsecond (dbt-spark's
    own dateadd goes through whole seconds, which moves a 10-minute window end). -#}
{% macro add_to_timestamp(unit, amount, timestamp_expression) -%}
    {{ return(adapter.dispatch('add_to_timestamp', 'botmeter')(unit, amount, timestamp_expression)) }}
{%- endmacro %}

{% macro default__add_to_timestamp(unit, amount, timestamp_expression) -%}
    {{ dbt.dateadd(unit, amount, timestamp_expression) }}
{%- endmacro %}

{% macro spark__add_to_timestamp(unit, amount, timestamp_expression) -%}
    timestampadd({{ unit | upper }}, {{ amount }}, {{ timestamp_expression }})
{%- endmacro %}

{#- The values of `column` in the group, sorted, joined by `separator` (a SQL string).
    dbt-spark's listagg ignores the order: sort the collected array instead. -#}
{% macro sorted_string_agg(column, separator) -%}
    {{ return(adapter.dispatch('sorted_string_agg', 'botmeter')(column, separator)) }}
{%- endmacro %}

{% macro default__sorted_string_agg(column, separator) -%}
    {{ dbt.listagg(column, separator, "order by " ~ column) }}
{%- endmacro %}

{% macro spark__sorted_string_agg(column, separator) -%}
    array_join(array_sort(collect_list({{ column }})), {{ separator }})
{%- endmacro %}

{#-
  Spark tables in Parquet have no DELETE or UPDATE, and Spark refuses to overwrite a table
  while reading it. Every change of rows in place (the replace_range and delete+insert
  strategies, the KPI pre-hook, the build record) therefore goes through one macro: the new
  contents are written to a staging table, which then overwrites the target whole. Exact by
  construction: the target ends with `select_sql`'s rows, nothing else.
-#}
{% macro spark_rewrite_table(target, select_sql) -%}
    {%- set staging = target.schema ~ '.' ~ target.identifier ~ '__botmeter_rewrite' -%}
    {%- do run_query('drop table if exists ' ~ staging) -%}
    {%- do run_query('create table ' ~ staging ~ ' using parquet as ' ~ select_sql) -%}
    {%- do run_query('insert overwrite table ' ~ target ~ ' select * from ' ~ staging) -%}
    {%- do run_query('drop table if exists ' ~ staging) -%}
{%- endmacro %}

{#- dbt-spark knows append, insert_overwrite, merge (Delta, Iceberg, Hudi only) and
    microbatch; botmeter's models use replace_range and delete+insert on every engine. -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy in ['replace_range', 'delete+insert'] -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {{ return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{%- endmacro %}

{#- The two strategies on Spark: the target's rows outside what the batch replaces, plus the
    batch (`source`, the model's incremental select as a temporary view). The statement
    dbt runs last refreshes Spark's cached file listing of the rewritten table. -#}
{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy not in ['replace_range', 'delete+insert'] -%}
        {{ return(dbt_spark.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates)) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    {%- if strategy == 'replace_range' -%}
        {%- set keys = config.require('replace_keys') -%}
        {%- set column = config.require('replace_column') -%}
        {%- set ranges = config.get('replace_ranges', none) -%}
        {%- set bound_from = ref(ranges) if ranges else source -%}
        {%- set bound_column = 'replace_from' if ranges else column -%}
        {%- set kept -%}
            select {{ columns }} from {{ target }} as tgt
            left anti join (
                select {{ keys | join(', ') }}, min({{ bound_column }}) as replace_from
                from {{ bound_from }}
                group by {{ keys | join(', ') }}
            ) as rng
            on {% for k in keys %}tgt.{{ k }} = rng.{{ k }} and {% endfor -%}
                tgt.{{ column }} >= rng.replace_from
        {%- endset -%}
    {%- else -%}
        {%- set keys = [unique_key] if unique_key is string else unique_key -%}
        {%- set kept -%}
            select {{ columns }} from {{ target }} as tgt
            left anti join {{ source }} as src
            on {% for k in keys %}tgt.{{ k }} = src.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %}
        {%- endset -%}
    {%- endif -%}
    {%- do spark_rewrite_table(target, kept ~ ' union all select ' ~ columns ~ ' from ' ~ source) -%}
    refresh table {{ target }}
{%- endmacro %}

{#-
  On Spark the sources are the Parquet copies landing writes (assets/lake.py), declared as
  external tables over their folders (dropping one never touches its files). Before every
  invocation Spark lists the folders again, so dates landed since the last one are seen.
  DuckDB reads its own raw tables: nothing to do there.
-#}
{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources', 'botmeter')()) }}
{%- endmacro %}

{% macro default__register_lake_sources() -%}{%- endmacro %}

{% macro spark__register_lake_sources() -%}
    {%- if execute -%}
        {%- set lake = env_var('BOTMETER_LAKE') -%}
        {%- for node in graph.sources.values() -%}
            {%- set folder = lake ~ '/' ~ node.schema ~ '/' ~ node.identifier -%}
            {%- set relation = node.schema ~ '.' ~ node.identifier -%}
            {%- if loop.first or node.schema != loop.previtem.schema -%}
                {%- do run_query('create database if not exists ' ~ node.schema) -%}
            {%- endif -%}
            {%- do run_query('create table if not exists ' ~ relation ~ " using parquet location '" ~ folder ~ "'") -%}
            {%- if node.schema == 'raw' -%}
                {#- New and removed arrival-date folders. -#}
                {%- do run_query('msck repair table ' ~ relation ~ ' sync partitions') -%}
            {%- endif -%}
            {%- do run_query('refresh table ' ~ relation) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Use the configured schema name as-is (raw, staging, intermediate, marts): analysts and BI
    tools query `marts.fct_sessions`, not `main_marts.fct_sessions`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

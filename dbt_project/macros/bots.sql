{#- The bot name and version known when `at_column` happened: the period of dim_bot_versions
    (alias `versions`) that holds it; the first period also holds everything before it. For a
    join from a relation with account_id and bot_id. -#}
{% macro bot_version_period_holds(relation_alias, at_column, versions='versions') -%}
    {{ relation_alias }}.account_id = {{ versions }}.account_id
    and {{ relation_alias }}.bot_id = {{ versions }}.bot_id
    and ({{ relation_alias }}.{{ at_column }} >= {{ versions }}.valid_from or {{ versions }}.is_first_period)
    and ({{ relation_alias }}.{{ at_column }} < {{ versions }}.valid_to or {{ versions }}.valid_to is null)
{%- endmacro %}

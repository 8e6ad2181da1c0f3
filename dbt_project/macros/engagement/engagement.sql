{#- Shared helpers of the engagement marts (impressions, intents, API calls, usage, KPIs). -#}

{#- `relation` restricted, on an incremental run, to the (account, bot) days being replaced:
    rows of a changed (account_id, bot_id) whose `date_column` is on or after its
    replace_from in int_engagement_days_changed. A full build keeps every row (`enabled`
    overrides the is_incremental() switch). Models using it
    declare `-- depends_on: {{ ref('int_engagement_days_changed') }}`. -#}
{% macro engagement_changed_days(relation, date_column, enabled=none) -%}
    {{ rows_from_replace_bound(
        relation,
        'int_engagement_days_changed',
        ['account_id', 'bot_id'],
        date_column,
        enabled=(is_incremental() if enabled is none else enabled),
    ) }}
{%- endmacro %}

{#- Sessions that can hold an event of the replaced days: sessions of a changed (account, bot)
    whose window ends after the start of its first replaced day. A session that ended before
    cannot contain a later event, so dropping it never changes the event -> session lookup. -#}
{% macro engagement_sessions_reaching_changed_days(sessions, enabled=none) -%}
    select scoped.*
    from {{ sessions }} as scoped
    {%- if (is_incremental() if enabled is none else enabled) %}
        inner join {{ ref('int_engagement_days_changed') }} as changed_days
            on scoped.account_id = changed_days.account_id
                and scoped.bot_id = changed_days.bot_id
        where scoped.session_window_end_at
            > cast(changed_days.replace_from as {{ dbt.type_timestamp() }})
    {%- endif %}
{%- endmacro %}

{#- A SQL list of string literals (quotes doubled) from a list var; `null` when empty so that
    `x in ({{ ... }})` is never true. -#}
{% macro engagement_string_literals(values) -%}
    {%- if values is string -%}{%- set values = [values] -%}{%- endif -%}
    {%- if values | length == 0 -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        {%- for value in values -%}
            '{{ value | string | replace("'", "''") }}'{{ ", " if not loop.last }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Continuous quantile (linear interpolation between closest ranks: position
    p = (n - 1) * fraction, lo + (hi - lo) * (p - floor(p)), in doubles, as the oracle's
    percentile_cont); nulls are ignored. Written out rather than left to each engine's
    quantile function: DuckDB's quantile_cont and Spark's percentile round differently in the
    last bit, and a published figure must be the same on every engine. -#}
{% macro engagement_quantile(expression, fraction) -%}
    {%- set position -%}
        (count({{ expression }}) - 1) * cast({{ fraction }} as double)
    {%- endset -%}
    {%- set sorted = adapter.dispatch('sorted_values', 'botmeter')(expression) -%}
    {%- set at = adapter.dispatch('value_at', 'botmeter') -%}
    {%- set low = at(sorted, 'cast(floor(' ~ position ~ ') as int) + 1') -%}
    {%- set high = at(sorted, 'cast(ceil(' ~ position ~ ') as int) + 1') -%}
    case
        when count({{ expression }}) > 0
            then {{ low }} + ({{ high }} - {{ low }}) * ({{ position }} - floor({{ position }}))
    end
{%- endmacro %}

{#- The group's non-null values of `expression`, sorted ascending, as an array. -#}
{% macro default__sorted_values(expression) -%}
    array_sort(collect_list({{ expression }}))
{%- endmacro %}

{% macro duckdb__sorted_values(expression) -%}
    list_sort(list({{ expression }}) filter (where {{ expression }} is not null))
{%- endmacro %}

{#- Element `index` (1-based) of an array; null outside it. -#}
{% macro default__value_at(array, index) -%}
    try_element_at({{ array }}, {{ index }})
{%- endmacro %}

{% macro duckdb__value_at(array, index) -%}
    ({{ array }})[{{ index }}]
{%- endmacro %}

{#- A top-level scalar property of a JSON column as text (strings unquoted, numbers and
    booleans in JSON notation). `key_expression` is a SQL expression (a column of
    config.kpi_filters): property names are validated identifiers and travel as data. -#}
{% macro engagement_json_property(json_expression, key_expression) -%}
    {{ return(adapter.dispatch('engagement_json_property', 'botmeter')(json_expression, key_expression)) }}
{%- endmacro %}

{% macro default__engagement_json_property(json_expression, key_expression) -%}
    get_json_object({{ json_expression }}, concat('$.', {{ key_expression }}))
{%- endmacro %}

{% macro duckdb__engagement_json_property(json_expression, key_expression) -%}
    json_extract_string({{ json_expression }}, '$.' || {{ key_expression }})
{%- endmacro %}

{#- The KPI configuration tables loaded by orchestration/kpi_config.py. When they have not
    been loaded into this warehouse, an empty relation with the same columns, so the KPI
    models build (empty) instead of failing the whole run. -#}
{% macro engagement_kpi_config_relation(table_name) -%}
    {%- set relation = source('config', table_name) -%}
    {#- in a dbt unit test the source is a fixture CTE (no schema): use it as-is -#}
    {%- if execute and relation.schema is not none and load_relation(relation) is none -%}
        {%- set string = dbt.type_string() -%}
        {%- if table_name == 'kpi_definitions' -%}
            (
                select
                    cast(null as {{ dbt.type_int() }}) as config_version,
                    cast(null as {{ string }}) as config_hash,
                    cast(null as {{ string }}) as kpi_name,
                    cast(null as {{ string }}) as description,
                    cast(null as {{ string }}) as grain,
                    cast(null as {{ string }}) as numerator_count,
                    cast(null as {{ string }}) as denominator_count
                where 1 = 0
            )
        {%- else -%}
            (
                select
                    cast(null as {{ string }}) as kpi_name,
                    cast(null as {{ string }}) as part,
                    cast(null as {{ string }}) as clause,
                    cast(null as {{ string }}) as field,
                    cast(null as {{ string }}) as property_key,
                    cast(null as {{ string }}) as value
                where 1 = 0
            )
        {%- endif -%}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- True when int_kpi_counts_daily already holds counts of the loaded KPI configuration.
    Otherwise (first build, configuration changed or never loaded) the model recomputes all
    history after its pre-hook removed the stale counts. -#}
{% macro engagement_kpi_counts_are_current() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set definitions = source('config', 'kpi_definitions') -%}
    {%- if load_relation(definitions) is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set query -%}
        select count(*) from {{ this }}
        where config_hash = (select max(config_hash) from {{ definitions }})
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Pre-hook of int_kpi_counts_daily: drop counts of another KPI configuration. -#}
{% macro engagement_drop_stale_kpi_counts() -%}
    {%- if execute and is_incremental() -%}
        {%- set definitions = source('config', 'kpi_definitions') -%}
        {%- if load_relation(definitions) is none -%}
            {%- set stale = 'true' -%}
        {%- else -%}
            {%- set stale -%}
                config_hash is distinct from (select max(config_hash) from {{ definitions }})
            {%- endset -%}
        {%- endif -%}
        {{ return(adapter.dispatch('engagement_delete_rows', 'botmeter')(this, stale)) }}
    {%- endif -%}
{%- endmacro %}

{#- Delete the rows of `relation` where `predicate` holds: a statement on DuckDB; on Spark a
    rewrite of the table without them (spark_rewrite_table), so nothing is left to run. -#}
{% macro default__engagement_delete_rows(relation, predicate) -%}
    delete from {{ relation }} where {{ predicate }}
{%- endmacro %}

{% macro spark__engagement_delete_rows(relation, predicate) -%}
    {%- do spark_rewrite_table(relation, 'select * from ' ~ relation ~ ' where not (' ~ predicate ~ ')') -%}
{%- endmacro %}

{#- A KPI's value: numerator / denominator (null when the denominator is 0), or the numerator
    for a KPI without a denominator. -#}
{% macro kpi_value(numerator, denominator, has_denominator) -%}
    case
        when not {{ has_denominator }} then cast({{ numerator }} as double)
        else cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
    end
{%- endmacro %}

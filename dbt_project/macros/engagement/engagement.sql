{#- Shared helpers of the engagement marts (impressions, intents, API calls, usage, KPIs). -#}

{#- `relation` restricted, on an incremental run, to the (account, bot) days being replaced:
    rows of a changed (account_id, bot_id) whose `date_column` is on or after its
    replace_from in int_engagement_days_changed. A full build keeps every row (`enabled`
    overrides the is_incremental() switch). Models using it
    declare `-- depends_on: {{ ref('int_engagement_days_changed') }}`. -#}
{% macro engagement_changed_days(relation, date_column, enabled=none) -%}
    select scoped.*
    from {{ relation }} as scoped
    {%- if (is_incremental() if enabled is none else enabled) %}
        inner join {{ ref('int_engagement_days_changed') }} as changed_days
            on scoped.account_id = changed_days.account_id
                and scoped.bot_id = changed_days.bot_id
        where scoped.{{ date_column }} >= changed_days.replace_from
    {%- endif %}
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

{#- Exact continuous quantile (linear interpolation between closest ranks, like
    numpy.percentile and the oracle's percentile_cont); nulls are ignored. -#}
{% macro engagement_quantile(expression, fraction) -%}
    {{ return(adapter.dispatch('engagement_quantile', 'botmeter')(expression, fraction)) }}
{%- endmacro %}

{% macro default__engagement_quantile(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__engagement_quantile(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__engagement_quantile(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
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
            delete from {{ this }}
        {%- else -%}
            delete from {{ this }}
            where config_hash is distinct from (select max(config_hash) from {{ definitions }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Generic tests of the engagement models. -#}

{#- No two rows share the values of `combination` (nulls compare equal, like a grain). -#}
{% test engagement_unique_combination(model, combination) %}
    select {{ combination | join(', ') }}, count(*) as rows_in_group
    from {{ model }}
    group by {{ combination | join(', ') }}
    having count(*) > 1
{% endtest %}

{#- A share or rate: between 0 and 1 when not null. -#}
{% test engagement_share(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0 or {{ column_name }} > 1
{% endtest %}

{#- `expression` holds on every row. -#}
{% test engagement_expression_holds(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)
{% endtest %}

{#- KPI values of one grain ('day' or 'month') from int_kpi_counts_daily: numerator and
    denominator per KPI, period, account, bot and channel, value = numerator / denominator
    (null when the denominator is 0) or the numerator for a KPI without denominator. Only
    KPIs published at that grain (day KPIs at both) in the loaded configuration, and only their current counts. -#}
{% macro engagement_kpi_values(grain, period_column) -%}
with

definitions as (
    select * from {{ engagement_kpi_config_relation('kpi_definitions') }}
    {#- A day KPI also rolls up to months (a month is the sum of its days); a month KPI is
        published monthly only. #}
    where grain {% if grain == 'month' %}in ('day', 'month'){% else %}= 'day'{% endif %}
),

counts as (
    select * from {{ ref('int_kpi_counts_daily') }}
),

current_counts as (
    select
        counts.kpi_name,
        counts.part,
        {%- if grain == 'month' %}
        cast({{ dbt.date_trunc('month', 'counts.kpi_date') }} as date) as {{ period_column }},
        {%- else %}
        counts.kpi_date as {{ period_column }},
        {%- endif %}
        counts.account_id,
        counts.bot_id,
        counts.channel,
        sum(counts.units) as units
    from counts
    inner join definitions
        on counts.kpi_name = definitions.kpi_name
            and counts.config_hash = definitions.config_hash
    group by 1, 2, 3, 4, 5, 6
),

kpi_groups as (
    select distinct
        kpi_name,
        {{ period_column }},
        account_id,
        bot_id,
        channel
    from current_counts
),

numerators as (
    select * from current_counts
    where part = 'numerator'
),

denominators as (
    select * from current_counts
    where part = 'denominator'
),

values_by_group as (
    select
        kpi_groups.kpi_name,
        kpi_groups.{{ period_column }},
        kpi_groups.account_id,
        kpi_groups.bot_id,
        kpi_groups.channel,
        cast(coalesce(numerators.units, 0) as {{ dbt.type_bigint() }}) as numerator,
        case
            when definitions.denominator_count is not null
                then cast(coalesce(denominators.units, 0) as {{ dbt.type_bigint() }})
        end as denominator
    from kpi_groups
    inner join definitions on kpi_groups.kpi_name = definitions.kpi_name
    left join numerators
        on kpi_groups.kpi_name = numerators.kpi_name
            and kpi_groups.{{ period_column }} = numerators.{{ period_column }}
            and kpi_groups.account_id = numerators.account_id
            and kpi_groups.bot_id = numerators.bot_id
            and kpi_groups.channel = numerators.channel
    left join denominators
        on kpi_groups.kpi_name = denominators.kpi_name
            and kpi_groups.{{ period_column }} = denominators.{{ period_column }}
            and kpi_groups.account_id = denominators.account_id
            and kpi_groups.bot_id = denominators.bot_id
            and kpi_groups.channel = denominators.channel
),

final as (
    select
        values_by_group.kpi_name,
        values_by_group.{{ period_column }},
        values_by_group.account_id,
        values_by_group.bot_id,
        values_by_group.channel,
        values_by_group.numerator,
        values_by_group.denominator,
        case
            when definitions.denominator_count is null
                then cast(values_by_group.numerator as double)
            else cast(values_by_group.numerator as double)
                / nullif(values_by_group.denominator, 0)
        end as value
    from values_by_group
    inner join definitions on values_by_group.kpi_name = definitions.kpi_name
)

select * from final
{%- endmacro %}

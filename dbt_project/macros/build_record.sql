{#-
  What the models were built from, kept by dbt itself in `audit.dbt_builds`: one row per
  dbt invocation that runs models (on-run-start writes it as `running`, on-run-end settles
  it as `success` or `error`; a killed build stays `running`).

  The batch of a build is the loads of raw.load_history after the last successful build of
  the whole project (load_id in (batch_after_load_id, batch_to_load_id]). A load that a
  failed, partial or killed build did not finish is therefore in the next batch: re-running
  a batch is exact (docs/incremental.md), so nothing landed is ever left out.

  A build rebuilds every model (`is_rebuild`, see `should_full_refresh` below) when asked
  (--full-refresh), when no whole build has succeeded yet, when a rule var (var('rule_vars'))
  differs from the last successful build's, or when a landing since the last rebuild lacks
  rows its date had before (raw.load_history.events_replaced): incremental models only add.
-#}

{% macro botmeter_records_build() -%}
    {{ return(execute and flags.WHICH in ('build', 'run')) }}
{%- endmacro %}

{#- The rule vars as JSON, in the order var('rule_vars') lists them. -#}
{% macro botmeter_rule_values() -%}
    {%- set values = {} -%}
    {%- for name in var('rule_vars') -%}
        {%- do values.update({name: var(name)}) -%}
    {%- endfor -%}
    {{ return(tojson(values)) }}
{%- endmacro %}

{#- True when this invocation selected every model of the project. -#}
{% macro botmeter_selects_whole_project() -%}
    {%- set models = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | map(attribute='unique_id') | list -%}
    {%- for unique_id in models -%}
        {%- if unique_id not in selected_resources -%}
            {{ return(false) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}

{% macro botmeter_build_started() -%}
    {%- if botmeter_records_build() -%}
        {%- set rules = botmeter_rule_values() | replace("'", "''") -%}
        {%- do run_query('create schema if not exists audit') -%}
        {%- do run_query(botmeter_builds_ddl()) -%}
        {%- set add_engine = botmeter_builds_add_engine() -%}
        {%- if add_engine | trim -%}
            {%- do run_query(add_engine) -%}
        {%- endif -%}
        {%- set insert -%}
        insert into audit.dbt_builds
        with
        loads as (
            select * from {{ source('raw', 'load_history') }}
        ),
        last_success as (
            select batch_to_load_id, rule_vars, engine
            from audit.dbt_builds
            where status = 'success' and is_whole_project
            order by started_at desc
            limit 1
        ),
        last_build as (
            select status
            from audit.dbt_builds
            order by started_at desc
            limit 1
        ),
        last_rebuild as (
            select max(batch_to_load_id) as batch_to_load_id
            from audit.dbt_builds
            where status = 'success' and is_whole_project and is_rebuild
        ),
        reasons as (
            select
                case
                    when {{ flags.FULL_REFRESH }} then 'asked (--full-refresh)'
                    when (select count(*) from last_success) = 0
                        then 'no whole build has succeeded yet'
                    when {{ botmeter_unfinished_build_rebuilds() }}
                        and (select count(*) from last_build where status = 'running') > 0
                        then 'the last build did not finish and this engine has no transactions'
                    when (select max(engine) from last_success) <> '{{ target.type }}'
                        then 'the last build ran on another engine'
                    when (select max(rule_vars) from last_success) <> '{{ rules }}'
                        then 'a rule var changed since the last build'
                    when (
                        select count(*) from loads
                        where events_replaced > 0
                            and load_id > coalesce((select max(batch_to_load_id) from last_rebuild), 0)
                    ) > 0
                        then 'a landing removed or changed rows the models hold'
                end as rebuild_reason
        )
        select
            '{{ invocation_id }}',
            {{ botmeter_utc_now() }},
            cast(null as timestamp),
            'running',
            {{ botmeter_selects_whole_project() }},
            rebuild_reason is not null,
            rebuild_reason,
            case
                when rebuild_reason is not null then 0
                else coalesce((select max(batch_to_load_id) from last_success), 0)
            end,
            coalesce((select max(load_id) from loads), 0),
            '{{ rules }}',
            '{{ target.type }}'
        from reasons
        {%- endset -%}
        {%- do run_query(insert) -%}
    {%- endif -%}
{%- endmacro %}

{% macro botmeter_build_finished(results) -%}
    {%- if botmeter_records_build() -%}
        {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'skipped', 'runtime error']) | list -%}
        {%- do botmeter_settle_build('error' if failed else 'success') -%}
    {%- endif -%}
{%- endmacro %}

{#- The build record's table: DuckDB keeps it in the warehouse; Spark as Parquet in the lake,
    from where botmeter copies it into the warehouse after the build (assets/lake.py). -#}
{% macro botmeter_builds_ddl() -%}
    {{ return(adapter.dispatch('botmeter_builds_ddl', 'botmeter')()) }}
{%- endmacro %}

{% macro default__botmeter_builds_ddl() -%}
    create table if not exists audit.dbt_builds (
        invocation_id varchar primary key,
        started_at timestamp not null,
        finished_at timestamp,
        status varchar not null,
        is_whole_project boolean not null,
        is_rebuild boolean not null,
        rebuild_reason varchar,
        batch_after_load_id bigint not null,
        batch_to_load_id bigint not null,
        rule_vars varchar not null,
        engine varchar not null
    )
{%- endmacro %}

{% macro spark__botmeter_builds_ddl() -%}
    create table if not exists audit.dbt_builds (
        invocation_id string,
        started_at timestamp,
        finished_at timestamp,
        status string,
        is_whole_project boolean,
        is_rebuild boolean,
        rebuild_reason string,
        batch_after_load_id bigint,
        batch_to_load_id bigint,
        rule_vars string,
        engine string
    )
    using parquet location '{{ env_var("BOTMETER_LAKE") }}/audit/dbt_builds'
{%- endmacro %}

{#- The engine that ran each build (a warehouse that changed engines rebuilds once: the
    other engine's intermediate tables are not this one's). Added to older records. -#}
{% macro botmeter_builds_add_engine() -%}
    {{ return(adapter.dispatch('botmeter_builds_add_engine', 'botmeter')()) }}
{%- endmacro %}

{% macro default__botmeter_builds_add_engine() -%}
    alter table audit.dbt_builds add column if not exists engine varchar default 'duckdb'
{%- endmacro %}

{#- Spark's record (in the lake) was created with the column. -#}
{% macro spark__botmeter_builds_add_engine() -%}{%- endmacro %}

{#- Whether a build that did not finish (killed) makes the next one rebuild. DuckDB commits
    each model's change whole, so re-running the batch is exact; Spark's Parquet tables are
    overwritten file by file, and a kill can leave one half-written. -#}
{% macro botmeter_unfinished_build_rebuilds() -%}
    {{ return(adapter.dispatch('botmeter_unfinished_build_rebuilds', 'botmeter')()) }}
{%- endmacro %}

{% macro default__botmeter_unfinished_build_rebuilds() -%}false{%- endmacro %}

{% macro spark__botmeter_unfinished_build_rebuilds() -%}true{%- endmacro %}

{% macro botmeter_utc_now() -%}
    {{ return(adapter.dispatch('botmeter_utc_now', 'botmeter')()) }}
{%- endmacro %}

{% macro default__botmeter_utc_now() -%}current_timestamp(){%- endmacro %}

{% macro duckdb__botmeter_utc_now() -%}now() at time zone 'UTC'{%- endmacro %}

{#- Settle this invocation's row as `status`. -#}
{% macro botmeter_settle_build(status) -%}
    {{ return(adapter.dispatch('botmeter_settle_build', 'botmeter')(status)) }}
{%- endmacro %}

{% macro default__botmeter_settle_build(status) -%}
    {%- set sql -%}
        update audit.dbt_builds
        set status = '{{ status }}', finished_at = {{ botmeter_utc_now() }}
        where invocation_id = '{{ invocation_id }}'
    {%- endset -%}
    {%- do run_query(sql) -%}
{%- endmacro %}

{% macro spark__botmeter_settle_build(status) -%}
    {%- set sql -%}
        select
            invocation_id,
            started_at,
            case when invocation_id = '{{ invocation_id }}' then {{ botmeter_utc_now() }} else finished_at end,
            case when invocation_id = '{{ invocation_id }}' then '{{ status }}' else status end,
            is_whole_project, is_rebuild, rebuild_reason, batch_after_load_id, batch_to_load_id,
            rule_vars, engine
        from audit.dbt_builds
    {%- endset -%}
    {%- do spark_rewrite_table(api.Relation.create(schema='audit', identifier='dbt_builds'), sql) -%}
{%- endmacro %}

{#- This build's row (none outside `dbt build`/`dbt run`, e.g. in unit tests). -#}
{% macro botmeter_this_build() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select is_rebuild, batch_after_load_id, batch_to_load_id
        from audit.dbt_builds where invocation_id = '{{ invocation_id }}'
    {%- endset -%}
    {%- if load_relation(api.Relation.create(schema='audit', identifier='dbt_builds')) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows = run_query(query).rows -%}
    {{ return(rows[0] if rows | length > 0 else none) }}
{%- endmacro %}

{#- dbt's own switch, extended: an incremental model is rebuilt when this build rebuilds
    (see the top of this file), so no figure ever rests on rules or rows it no longer has. -#}
{% macro should_full_refresh() -%}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if config_full_refresh -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set build = botmeter_this_build() -%}
    {{ return(build is not none and build[0]) }}
{%- endmacro %}

{#- The arrival dates this build processes: those with a load in its batch (every date on a
    rebuild, or outside a recorded build). The dates are written into the SQL as literals, so
    an engine that stores raw rows by arrival date (Spark, docs/spark.md) reads only their
    folders. -#}
{% macro in_run_batch(arrival_date_column) -%}
    {%- set build = botmeter_this_build() -%}
    {%- if build is none or build[0] -%}
        true
    {%- else -%}
        {%- set query -%}
            select distinct cast(arrival_date as {{ dbt.type_string() }})
            from {{ source('raw', 'load_history') }}
            where load_id > {{ build[1] }} and load_id <= {{ build[2] }}
            order by 1
        {%- endset -%}
        {%- set dates = run_query(query).columns[0].values() -%}
        {%- if dates | length == 0 -%}
            false
        {%- else -%}
            {{ arrival_date_column }} in (
                {%- for day in dates %}date '{{ day }}'{% if not loop.last %}, {% endif %}{% endfor -%}
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

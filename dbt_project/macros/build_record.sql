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
        create schema if not exists audit;
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
            rule_vars varchar not null
        );
        insert into audit.dbt_builds
        with
        loads as (
            select * from {{ source('raw', 'load_history') }}
        ),
        last_success as (
            select batch_to_load_id, rule_vars
            from audit.dbt_builds
            where status = 'success' and is_whole_project
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
                    when not exists (select 1 from last_success)
                        then 'no whole build has succeeded yet'
                    when (select rule_vars from last_success) <> '{{ rules }}'
                        then 'a rule var changed since the last build'
                    when exists (
                        select 1 from loads
                        where events_replaced > 0
                            and load_id > coalesce((select batch_to_load_id from last_rebuild), 0)
                    )
                        then 'a landing removed or changed rows the models hold'
                end as rebuild_reason
        )
        select
            '{{ invocation_id }}',
            now() at time zone 'UTC',
            null,
            'running',
            {{ botmeter_selects_whole_project() }},
            rebuild_reason is not null,
            rebuild_reason,
            case
                when rebuild_reason is not null then 0
                else coalesce((select batch_to_load_id from last_success), 0)
            end,
            coalesce((select max(load_id) from loads), 0),
            '{{ rules }}'
        from reasons
    {%- endif -%}
{%- endmacro %}

{% macro botmeter_build_finished(results) -%}
    {%- if botmeter_records_build() -%}
        {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'skipped', 'runtime error']) | list -%}
        update audit.dbt_builds
        set
            status = '{{ "error" if failed else "success" }}',
            finished_at = now() at time zone 'UTC'
        where invocation_id = '{{ invocation_id }}'
    {%- endif -%}
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
    rebuild, or outside a recorded build). -#}
{% macro in_run_batch(arrival_date_column) -%}
    {%- set build = botmeter_this_build() -%}
    {%- if build is none or build[0] -%}
        true
    {%- else -%}
        {{ arrival_date_column }} in (
            select batch_loads.arrival_date
            from {{ source('raw', 'load_history') }} as batch_loads
            where batch_loads.load_id > {{ build[1] }} and batch_loads.load_id <= {{ build[2] }}
        )
    {%- endif -%}
{%- endmacro %}

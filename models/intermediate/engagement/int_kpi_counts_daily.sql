{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='kpi_date',
        replace_ranges='int_engagement_days_changed',
        pre_hook="{{ engagement_drop_stale_kpi_counts() }}",
    )
}}

{#- Daily counts of every KPI numerator and denominator of the loaded KPI configuration
    (config.kpi_definitions / config.kpi_filters, written by orchestration/kpi_config.py):
    one row per KPI, part, day, account, bot and channel with the number of distinct units.

    The configuration is data: events are unpivoted into (field, property_key, value) rows
    and equi-joined to the filter rows, so no configured value is ever part of the SQL text.

    Incremental: the changed bots' days from int_engagement_days_changed are recomputed. When
    the table holds no counts of the loaded configuration (`config_hash`), the pre-hook drops
    the stale counts and all history is recomputed, so the KPI marts always reflect the
    current file. -#}

-- depends_on: {{ ref('int_engagement_days_changed') }}

{%- set scoped = engagement_kpi_counts_are_current() %}

{#- events and scoped_events are read by several CTEs: `not materialized` keeps DuckDB from
    copying every staged event into a temporary CTE result first (19 s -> 7 s at 10M). #}

with

definitions as (
    select * from {{ engagement_kpi_config_relation('kpi_definitions') }}
),

filters as (
    select * from {{ engagement_kpi_config_relation('kpi_filters') }}
),

events as {{ cte_hint('not materialized') }} (
    select * from {{ ref('stg_botmeter__events') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

conversations as (
    select
        *,
        cast(conversation_created_at as date) as conversation_date
    from {{ ref('int_conversations') }}
),

parts as (
    select
        kpi_name,
        'numerator' as part,
        numerator_count as count_unit,
        config_hash
    from definitions
    union all
    select
        kpi_name,
        'denominator' as part,
        denominator_count as count_unit,
        config_hash
    from definitions
    where denominator_count is not null
),

-- a criterion is one (field, property) of a clause; an event matches the clause when it
-- holds one of the listed values for every criterion
criteria as (
    select distinct
        kpi_name,
        part,
        clause,
        field,
        coalesce(property_key, '') as property_key,
        value
    from filters
),

clause_requirements as (
    select
        kpi_name,
        part,
        clause,
        count(distinct {{ dbt.concat(['field', "'|'", 'property_key']) }}) as required_criteria
    from criteria
    group by kpi_name, part, clause
),

part_specs as (
    select
        parts.kpi_name,
        parts.part,
        parts.count_unit,
        parts.config_hash,
        where_clause.kpi_name is not null as has_where
    from parts
    left join clause_requirements as where_clause
        on parts.kpi_name = where_clause.kpi_name
            and parts.part = where_clause.part
            and where_clause.clause = 'where'
),

scoped_events as {{ cte_hint('not materialized') }} (
    {{ engagement_changed_days('events', 'event_date', enabled=scoped) }}
),

scoped_sessions as (
    {{ engagement_changed_days('sessions', 'session_date', enabled=scoped) }}
),

scoped_conversations as (
    {{ engagement_changed_days('conversations', 'conversation_date', enabled=scoped) }}
),

reaching_sessions as (
    {{ engagement_sessions_reaching_changed_days('sessions', enabled=scoped) }}
),

property_keys as (
    select distinct property_key from criteria
    where field = 'property'
),

event_values as (
    select
        event_id,
        'event_type' as field,
        '' as property_key,
        event_type as value
    from scoped_events
    union all
    select
        event_id,
        'kpi_name' as field,
        '' as property_key,
        kpi_name as value
    from scoped_events
    where kpi_name is not null
    union all
    select
        scoped_events.event_id,
        'property' as field,
        property_keys.property_key,
        {{ engagement_json_property('scoped_events.properties', 'property_keys.property_key') }}
            as value
    from scoped_events
    cross join property_keys
    where scoped_events.properties is not null
),

clause_hits as (
    select
        event_values.event_id,
        criteria.kpi_name,
        criteria.part,
        criteria.clause
    from event_values
    inner join criteria
        on event_values.field = criteria.field
            and event_values.property_key = criteria.property_key
            and event_values.value = criteria.value
    inner join clause_requirements
        on criteria.kpi_name = clause_requirements.kpi_name
            and criteria.part = clause_requirements.part
            and criteria.clause = clause_requirements.clause
    group by
        event_values.event_id,
        criteria.kpi_name,
        criteria.part,
        criteria.clause,
        clause_requirements.required_criteria
    having
        count(distinct {{ dbt.concat(['criteria.field', "'|'", 'criteria.property_key']) }})
        = clause_requirements.required_criteria
),

hits as (
    select
        clause_hits.*,
        part_specs.count_unit
    from clause_hits
    inner join part_specs
        on clause_hits.kpi_name = part_specs.kpi_name
            and clause_hits.part = part_specs.part
),

-- impressions never belong to a session or a conversation
session_hit_events as (
    select scoped_events.*
    from scoped_events
    where
        scoped_events.event_type <> 'impression'
        and scoped_events.event_id in (
            select hits.event_id from hits
            where hits.count_unit = 'sessions'
        )
),

session_hit_events_in_sessions as (
    {{ events_in_session_windows('session_hit_events', 'reaching_sessions') }}
),

hit_units as (
    select
        kpi_name,
        part,
        clause,
        'event' as unit_kind,
        event_id as unit_id
    from hits
    where count_unit = 'events'
    union all
    select
        hits.kpi_name,
        hits.part,
        hits.clause,
        'session' as unit_kind,
        in_sessions.session_id as unit_id
    from hits
    inner join session_hit_events_in_sessions as in_sessions
        on hits.event_id = in_sessions.event_id
    where hits.count_unit = 'sessions' and in_sessions.session_id is not null
    union all
    select
        hits.kpi_name,
        hits.part,
        hits.clause,
        'conversation' as unit_kind,
        scoped_events.conversation_id as unit_id
    from hits
    inner join scoped_events on hits.event_id = scoped_events.event_id
    where
        hits.count_unit = 'conversations'
        and scoped_events.conversation_id is not null
        and scoped_events.event_type <> 'impression'
),

-- a part without `where` counts every unit
included_units as (
    select
        kpi_name,
        part,
        unit_kind,
        unit_id
    from hit_units
    where clause = 'where'
    union all
    select
        part_specs.kpi_name,
        part_specs.part,
        'event' as unit_kind,
        scoped_events.event_id as unit_id
    from part_specs
    cross join scoped_events
    where part_specs.count_unit = 'events' and not part_specs.has_where
    union all
    select
        part_specs.kpi_name,
        part_specs.part,
        'session' as unit_kind,
        scoped_sessions.session_id as unit_id
    from part_specs
    cross join scoped_sessions
    where part_specs.count_unit = 'sessions' and not part_specs.has_where
    union all
    select
        part_specs.kpi_name,
        part_specs.part,
        'conversation' as unit_kind,
        scoped_conversations.conversation_id as unit_id
    from part_specs
    cross join scoped_conversations
    where part_specs.count_unit = 'conversations' and not part_specs.has_where
),

excluded_units as (
    select distinct
        kpi_name,
        part,
        unit_kind,
        unit_id
    from hit_units
    where clause = 'without'
),

counted_units as (
    select distinct
        included_units.kpi_name,
        included_units.part,
        included_units.unit_kind,
        included_units.unit_id
    from included_units
    left join excluded_units
        on included_units.kpi_name = excluded_units.kpi_name
            and included_units.part = excluded_units.part
            and included_units.unit_kind = excluded_units.unit_kind
            and included_units.unit_id = excluded_units.unit_id
    where excluded_units.unit_id is null
),

-- the day and channel a unit is counted on: an event's own, a session's start day and first
-- channel, a conversation's first event's; units starting before the scope are not recounted
unit_attributes as (
    select
        'event' as unit_kind,
        event_id as unit_id,
        event_date as kpi_date,
        account_id,
        bot_id,
        channel
    from scoped_events
    union all
    select
        'session' as unit_kind,
        session_id as unit_id,
        session_date as kpi_date,
        account_id,
        bot_id,
        first_channel as channel
    from scoped_sessions
    union all
    select
        'conversation' as unit_kind,
        conversation_id as unit_id,
        conversation_date as kpi_date,
        account_id,
        bot_id,
        channel
    from scoped_conversations
),

final as (
    select
        counted_units.kpi_name,
        counted_units.part,
        unit_attributes.kpi_date,
        unit_attributes.account_id,
        unit_attributes.bot_id,
        unit_attributes.channel,
        count(*) as units,
        part_specs.config_hash
    from counted_units
    inner join unit_attributes
        on counted_units.unit_kind = unit_attributes.unit_kind
            and counted_units.unit_id = unit_attributes.unit_id
    inner join part_specs
        on counted_units.kpi_name = part_specs.kpi_name
            and counted_units.part = part_specs.part
    group by
        counted_units.kpi_name,
        counted_units.part,
        unit_attributes.kpi_date,
        unit_attributes.account_id,
        unit_attributes.bot_id,
        unit_attributes.channel,
        part_specs.config_hash
)

select * from final

{#- Event-to-session consistency of the session marts, for the keys this build changed: each
    session's event_count is the number of events in its window, every conversation with an
    event in a window is in the session-conversation bridge, and every ticket created in a
    window carries that session (the assignment rule itself: macros/sessions.sql). -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_sessions'}}}) }}

with

ranges as (
    select * from {{ ref('int_session_ranges_changed') }}
),

sessions as (
    select sessions.*, ranges.session_key
    from {{ ref('fct_sessions') }} as sessions
    inner join ranges
        on sessions.account_id = ranges.account_id
            and sessions.bot_id = ranges.bot_id
            and sessions.customer_id = ranges.customer_id
    where sessions.session_start_at >= ranges.replace_from
),

events as (
    select events.event_id, events.event_type, events.occurred_at, events.conversation_id,
        events.ticket_id, ranges.session_key
    from {{ ref('stg_botmeter__events') }} as events
    inner join ranges
        on events.account_id = ranges.account_id
            and events.bot_id = ranges.bot_id
            and events.customer_id = ranges.customer_id
    where events.event_type <> 'impression' and events.occurred_at >= ranges.replace_from
),

located as (
    {{ events_in_session_windows('events', 'sessions', ['session_key']) }}
),

in_sessions as (
    select * from located
    where session_id is not null
),

event_counts as (
    select
        sessions.session_id,
        sessions.event_count,
        count(in_sessions.event_id) as events_in_window
    from sessions
    left join in_sessions on sessions.session_id = in_sessions.session_id
    group by sessions.session_id, sessions.event_count
),

bridge as (
    select * from {{ ref('bridge_session_conversations') }}
),

tickets as (
    select * from {{ ref('fct_tickets') }}
),

problems as (
    select
        'event count' as problem,
        session_id,
        cast(null as {{ dbt.type_string() }}) as conversation_id,
        cast(null as {{ dbt.type_string() }}) as ticket_id
    from event_counts
    where event_count <> events_in_window
    union all
    select distinct 'conversation not in the bridge', in_sessions.session_id,
        in_sessions.conversation_id, null
    from in_sessions
    left join bridge
        on in_sessions.session_id = bridge.session_id
            and in_sessions.conversation_id = bridge.conversation_id
    where in_sessions.conversation_id is not null and bridge.session_id is null
    union all
    select 'ticket without its session', in_sessions.session_id, in_sessions.conversation_id,
        in_sessions.ticket_id
    from in_sessions
    inner join tickets on in_sessions.event_id = tickets.ticket_event_id
    where tickets.session_id is distinct from in_sessions.session_id
)

select * from problems

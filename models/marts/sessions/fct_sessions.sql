{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id', 'customer_id'],
        replace_column='session_start_at',
        replace_ranges='int_session_ranges_changed',
    )
}}

with

ranges as (
    select * from {{ ref('int_session_ranges_changed') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

events as (
    select * from {{ ref('int_events_sessionized') }}
    where session_id is not null
),

scoped_sessions as (
    select sessions.*
    from sessions
    inner join ranges
        on sessions.account_id = ranges.account_id
            and sessions.bot_id = ranges.bot_id
            and sessions.customer_id = ranges.customer_id
    where sessions.session_start_at >= ranges.replace_from
),

event_counts as (
    select
        session_id,
        count(distinct conversation_id) as conversation_count,
        count(distinct case when event_type = 'ticket_created' then ticket_id end)
            as ticket_count,
        count(distinct case when is_user_activity then channel end) as channel_count,
        count(*) as event_count
    from events
    group by session_id
),

final as (
    select
        scoped_sessions.session_id,
        scoped_sessions.account_id,
        scoped_sessions.bot_id,
        scoped_sessions.bot_name,
        scoped_sessions.bot_version,
        scoped_sessions.customer_id,
        scoped_sessions.session_start_at,
        scoped_sessions.session_end_at,
        scoped_sessions.session_window_end_at,
        scoped_sessions.session_date,
        cast({{ dbt.date_trunc('month', 'scoped_sessions.session_date') }} as date)
            as session_month,
        scoped_sessions.user_event_count,
        coalesce(event_counts.event_count, 0) as event_count,
        coalesce(event_counts.conversation_count, 0) as conversation_count,
        coalesce(event_counts.ticket_count, 0) as ticket_count,
        coalesce(event_counts.channel_count, 0) as channel_count,
        scoped_sessions.first_channel,
        coalesce(event_counts.ticket_count, 0) > 0 as has_ticket
    from scoped_sessions
    left join event_counts on scoped_sessions.session_id = event_counts.session_id
)

select * from final

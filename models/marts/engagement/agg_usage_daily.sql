{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='event_date',
        replace_ranges='int_engagement_days_changed',
    )
}}

{#- The Usage Metrics summary: one row per day, account and bot with any event. Events count
    on their own day, sessions on their start day, unique impressions on their own day.
    An incremental run replaces the changed bots' days from int_engagement_days_changed. -#}

-- depends_on: {{ ref('int_engagement_days_changed') }}

with

events as (
    select * from {{ ref('stg_botmeter__events') }}
),

sessions as (
    select * from {{ ref('fct_sessions') }}
),

impressions as (
    select * from {{ ref('fct_impressions') }}
    where is_unique
),

scoped_events as (
    {{ engagement_changed_days('events', 'event_date') }}
),

scoped_sessions as (
    {{ engagement_changed_days('sessions', 'session_date') }}
),

scoped_impressions as (
    {{ engagement_changed_days('impressions', 'impression_date') }}
),

event_counts as (
    select
        event_date,
        account_id,
        bot_id,
        count(case when event_type = 'conversation_started' then 1 end)
            as conversations_started,
        count(case when event_type = 'message' and actor = 'user' then 1 end)
            as user_messages,
        count(case when event_type = 'message' and actor = 'bot' then 1 end)
            as bot_messages,
        count(case when event_type = 'message' and actor = 'agent' then 1 end)
            as agent_messages,
        count(distinct case when event_type = 'ticket_created' then ticket_id end) as tickets,
        count(case when event_type = 'intent_matched' then 1 end) as intents_matched,
        count(case when event_type = 'api_call' then 1 end) as api_calls
    from scoped_events
    group by event_date, account_id, bot_id
),

session_counts as (
    select
        session_date,
        account_id,
        bot_id,
        count(*) as sessions
    from scoped_sessions
    group by session_date, account_id, bot_id
),

impression_counts as (
    select
        impression_date,
        account_id,
        bot_id,
        count(*) as unique_impressions
    from scoped_impressions
    group by impression_date, account_id, bot_id
),

-- sessions and unique impressions always have an event on their day; the union is a guard
all_groups as (
    select
        event_date,
        account_id,
        bot_id
    from event_counts
    union
    select
        session_date,
        account_id,
        bot_id
    from session_counts
    union
    select
        impression_date,
        account_id,
        bot_id
    from impression_counts
),

final as (
    select
        all_groups.event_date,
        all_groups.account_id,
        all_groups.bot_id,
        coalesce(session_counts.sessions, 0) as sessions,
        coalesce(event_counts.conversations_started, 0) as conversations_started,
        coalesce(event_counts.user_messages, 0) as user_messages,
        coalesce(event_counts.bot_messages, 0) as bot_messages,
        coalesce(event_counts.agent_messages, 0) as agent_messages,
        coalesce(impression_counts.unique_impressions, 0) as unique_impressions,
        coalesce(event_counts.tickets, 0) as tickets,
        coalesce(event_counts.intents_matched, 0) as intents_matched,
        coalesce(event_counts.api_calls, 0) as api_calls
    from all_groups
    left join event_counts
        on all_groups.event_date = event_counts.event_date
            and all_groups.account_id = event_counts.account_id
            and all_groups.bot_id = event_counts.bot_id
    left join session_counts
        on all_groups.event_date = session_counts.session_date
            and all_groups.account_id = session_counts.account_id
            and all_groups.bot_id = session_counts.bot_id
    left join impression_counts
        on all_groups.event_date = impression_counts.impression_date
            and all_groups.account_id = impression_counts.account_id
            and all_groups.bot_id = impression_counts.bot_id
)

select * from final

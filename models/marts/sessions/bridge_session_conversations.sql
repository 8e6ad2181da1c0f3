{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id', 'customer_id'],
        replace_column='session_start_at',
        replace_ranges='int_session_ranges_changed',
    )
}}

-- depends_on: {{ ref('int_session_ranges_changed') }}

with

events as (
    select * from {{ ref('int_events_sessionized') }}
    where session_id is not null and conversation_id is not null
),

ordered as (
    select
        *,
        row_number() over (
            partition by session_id, conversation_id order by occurred_at, event_id
        ) as position_in_session
    from events
),

final as (
    select
        session_id,
        conversation_id,
        account_id,
        bot_id,
        customer_id,
        session_start_at,
        max(case when position_in_session = 1 then channel end) as channel,
        min(occurred_at) as first_event_in_session_at,
        max(occurred_at) as last_event_in_session_at,
        count(*) as event_count
    from ordered
    group by session_id, conversation_id, account_id, bot_id, customer_id, session_start_at
)

select * from final

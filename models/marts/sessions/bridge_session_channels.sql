{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id', 'customer_id'],
        replace_column='session_start_at',
        replace_ranges='int_session_ranges_changed',
    )
}}

{#- A session's channels are the channels of its user events; it counts once in each. -#}

-- depends_on: {{ ref('int_session_ranges_changed') }}

with

user_events as (
    select * from {{ ref('int_events_sessionized') }}
    where session_id is not null and is_user_activity
),

final as (
    select
        session_id,
        channel,
        account_id,
        bot_id,
        customer_id,
        session_start_at,
        count(*) as user_event_count
    from user_events
    group by session_id, channel, account_id, bot_id, customer_id, session_start_at
)

select * from final

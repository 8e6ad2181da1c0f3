{{ config(materialized='view') }}

{#- Why each session exists: every user event with the gap to the key's previous user event and
    the reason a session started there. Filter by customer_id (pushed below the window). -#}

with

user_events as (
    select * from {{ ref('stg_botmeter__events') }}
    where is_user_activity
),

boundaries as (
    {{ user_events_with_boundaries('user_events') }}
),

numbered as (
    select
        *,
        sum(case when new_session_reason is not null then 1 else 0 end) over (
            partition by account_id, bot_id, customer_id
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from boundaries
),

with_start as (
    select
        *,
        min(occurred_at) over (
            partition by account_id, bot_id, customer_id, session_number
        ) as session_start_at
    from numbered
),

final as (
    select
        {{ session_id('account_id', 'bot_id', 'customer_id', 'session_start_at') }} as session_id,
        account_id,
        bot_id,
        customer_id,
        session_start_at,
        event_id,
        event_type,
        channel,
        conversation_id,
        occurred_at,
        previous_user_event_at,
        {{ dbt.datediff('previous_user_event_at', 'occurred_at', 'second') }} as gap_seconds,  -- noqa: LT05
        new_session_reason,
        new_session_reason is not null as is_session_start
    from with_start
)

select * from final

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

with_start as (
    -- The session's start is the latest session-starting event so far: the same ordering as
    -- the boundaries, so no second sort by session (4.6 s -> 3.5 s at 10M events).
    select
        *,
        max(case when new_session_reason is not null then occurred_at end) over (
            partition by account_id, bot_id, customer_id
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_start_at
    from boundaries
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
        -- Exact seconds (599.999 is not 600: counting second boundaries showed a gap of 600 s
        -- for an event that continued its session).
        cast({{ microseconds_between('previous_user_event_at', 'occurred_at') }} as double)  -- noqa: LT05
        / 1000000 as gap_seconds,
        new_session_reason,
        new_session_reason is not null as is_session_start
    from with_start
)

select * from final

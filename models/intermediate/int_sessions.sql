{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id', 'customer_id'],
        replace_column='session_start_at',
    )
}}

{#- Session boundaries (the lifecycle manifest). For a changed key with earliest new event at
    t, sessions whose window ends at or before t cannot change (any new user event is at
    least the timeout after their last user event), so the key is recomputed from
    replace_from = min(t, start of the first existing session whose window ends after t).
    The user event at replace_from always starts a session, so recomputing from there is
    exact; the replace_range strategy deletes the key's sessions from the batch's first
    start on, which covers every old session at or after replace_from. -#}

-- depends_on: {{ ref('int_session_keys_changed') }}

with

staged_events as not materialized (
    {#- read twice (user events, first event attributes): scanned, not copied into a CTE -#}
    select * from {{ ref('stg_botmeter__events') }}
),

user_events as (
    {#- Only the columns the two window sorts below need: they carry every selected column.
        The first event's channel, bot name and version are joined back per session. #}
    select
        account_id,
        bot_id,
        customer_id,
        occurred_at,
        event_id
    from staged_events
    where is_user_activity
),

{% if is_incremental() %}
changed_keys as (
    select * from {{ ref('int_session_keys_changed') }}
),

previous_sessions as (
    select
        account_id,
        bot_id,
        customer_id,
        session_start_at,
        session_window_end_at
    from {{ this }}
),

recompute_bounds as (
    select
        changed_keys.account_id,
        changed_keys.bot_id,
        changed_keys.customer_id,
        least(
            changed_keys.changed_from,
            coalesce(min(previous_sessions.session_start_at), changed_keys.changed_from)
        ) as replace_from
    from changed_keys
    left join previous_sessions
        on changed_keys.account_id = previous_sessions.account_id
        and changed_keys.bot_id = previous_sessions.bot_id
        and changed_keys.customer_id = previous_sessions.customer_id
        and previous_sessions.session_window_end_at > changed_keys.changed_from
    group by
        changed_keys.account_id,
        changed_keys.bot_id,
        changed_keys.customer_id,
        changed_keys.changed_from
),

scoped_user_events as (
    select user_events.*
    from user_events
    inner join recompute_bounds
        on user_events.account_id = recompute_bounds.account_id
        and user_events.bot_id = recompute_bounds.bot_id
        and user_events.customer_id = recompute_bounds.customer_id
    where user_events.occurred_at >= recompute_bounds.replace_from
),
{% else %}
    scoped_user_events as (
        select * from user_events
    ),
{% endif %}

boundaries as (
    {{ user_events_with_boundaries('scoped_user_events') }}
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

session_events as (
    {#- Exactly one user event per session has a new-session reason: its first. #}
    select
        account_id,
        bot_id,
        customer_id,
        min(occurred_at) as session_start_at,
        max(occurred_at) as session_end_at,
        count(*) as user_event_count,
        max(case when new_session_reason is not null then event_id end) as first_user_event_id
    from numbered
    group by account_id, bot_id, customer_id, session_number
),

sessions as (
    {#- The first user event's channel, bot name and version describe the session. #}
    select
        session_events.*,
        first_events.channel as first_channel,
        first_events.bot_name,
        first_events.bot_version
    from session_events
    inner join staged_events as first_events
        on session_events.first_user_event_id = first_events.event_id
),

final as (
    select
        {{ session_id(
            'sessions.account_id',
            'sessions.bot_id',
            'sessions.customer_id',
            'sessions.session_start_at',
        ) }} as session_id,
        sessions.account_id,
        sessions.bot_id,
        sessions.customer_id,
        sessions.session_start_at,
        sessions.session_end_at,
        {{ session_timeout_end('sessions.session_end_at') }} as session_window_end_at,
        cast(sessions.session_start_at as date) as session_date,
        sessions.user_event_count,
        sessions.first_channel,
        sessions.bot_name,
        sessions.bot_version,
        sessions.first_user_event_id
    from sessions
)

select * from final

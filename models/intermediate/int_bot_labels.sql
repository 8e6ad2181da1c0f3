{#- The name and version each bot was known by, over time: every event that carries a
    bot_name or bot_version updates what is known of its bot (a name stays known until
    another name arrives, and so does a version). One row per change of the known (name,
    version) pair, ordered by (occurred_at, event_id). Rebuilt every run: a late event can
    change what was known at any later time. -#}

with

labelled_events as (
    select
        account_id,
        bot_id,
        occurred_at,
        event_id,
        bot_name,
        bot_version
    from {{ ref('stg_botmeter__events') }}
    where bot_name is not null or bot_version is not null
),

known as (
    select
        account_id,
        bot_id,
        occurred_at,
        event_id,
        {{ engagement_last_non_null('bot_name', 'account_id, bot_id', 'occurred_at, event_id') }}
            as bot_name,
        {{ engagement_last_non_null('bot_version', 'account_id, bot_id', 'occurred_at, event_id') }}
            as bot_version
    from labelled_events
),

changes as (
    select
        *,
        lag(bot_name) over (
            partition by account_id, bot_id order by occurred_at, event_id
        ) as previous_name,
        lag(bot_version) over (
            partition by account_id, bot_id order by occurred_at, event_id
        ) as previous_version,
        row_number() over (
            partition by account_id, bot_id order by occurred_at, event_id
        ) as label_number
    from known
),

final as (
    select
        account_id,
        bot_id,
        bot_name,
        bot_version,
        occurred_at as known_from,
        event_id as known_from_event_id
    from changes
    where
        label_number = 1
        or bot_name is distinct from previous_name
        or bot_version is distinct from previous_version
)

select * from final

{#- One row per bot: the name and version it reported last (its id when it never reported a
    name), and when its first and last events happened. -#}

with

events as (
    select
        account_id,
        bot_id,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at
    from {{ ref('stg_botmeter__events') }}
    group by account_id, bot_id
),

versions as (
    select * from {{ ref('dim_bot_versions') }}
),

latest as (
    select
        account_id,
        bot_id,
        {{ first_by("bot_name", ["is_earlier", "valid_from"]) }} as bot_name,
        {{ first_by("bot_version", ["is_earlier", "valid_from"]) }} as bot_version
    from (
        select
            *,
            valid_to is not null as is_earlier
        from versions
    ) as ordered_versions
    group by account_id, bot_id
),

final as (
    select
        events.account_id,
        events.bot_id,
        coalesce(latest.bot_name, events.bot_id) as bot_name,
        latest.bot_version as latest_bot_version,
        events.first_event_at,
        events.last_event_at
    from events
    left join latest on events.account_id = latest.account_id and events.bot_id = latest.bot_id
)

select * from final

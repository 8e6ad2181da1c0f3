{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='session_date',
        replace_ranges='int_session_days_changed',
    )
}}

{#- Sessions and their tickets per day, bot and channel. A session counts once in every
    channel it touched, so the channels of a day can add up to more than its sessions; use
    agg_sessions_daily_total for the channel-free figure. -#}

-- depends_on: {{ ref('int_session_days_changed') }}

with

sessions as (
    select * from {{ ref('fct_sessions') }}
),

session_channels as (
    select * from {{ ref('bridge_session_channels') }}
),

scoped_sessions as (
    {{ rows_from_replace_bound(
        'sessions', 'int_session_days_changed', ['account_id', 'bot_id'], 'session_date',
        enabled=is_incremental(),
    ) }}
),

final as (
    select
        scoped_sessions.session_date,
        scoped_sessions.account_id,
        scoped_sessions.bot_id,
        session_channels.channel,
        count(*) as sessions,
        cast(sum(scoped_sessions.ticket_count) as {{ dbt.type_bigint() }}) as tickets,
        count(case when scoped_sessions.has_ticket then 1 end) as sessions_with_ticket
    from scoped_sessions
    inner join session_channels on scoped_sessions.session_id = session_channels.session_id
    group by
        scoped_sessions.session_date,
        scoped_sessions.account_id,
        scoped_sessions.bot_id,
        session_channels.channel
)

select * from final

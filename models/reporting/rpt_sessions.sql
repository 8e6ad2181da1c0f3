{#- The Session Usage report, one row per session: what "Sessions consumed", the trend, the
    bot, version and monthly widgets count, and the underlying data shows. The bot's name and
    version are the ones known when the session started (dim_bot_versions). -#}

with

sessions as (
    select * from {{ ref('fct_sessions') }}
),

versions as (
    select * from {{ ref('dim_bot_versions') }}
),

session_channels as (
    select
        session_id,
        {{ sorted_string_agg('channel', "', '") }} as channels
    from {{ ref('bridge_session_channels') }}
    group by session_id
),

final as (
    select
        sessions.session_id,
        sessions.account_id,
        sessions.bot_id,
        coalesce(versions.bot_name, sessions.bot_id) as bot_name,
        versions.bot_version,
        sessions.customer_id,
        sessions.session_start_at,
        sessions.session_end_at,
        sessions.session_date,
        sessions.session_month,
        sessions.first_channel,
        coalesce(session_channels.channels, sessions.first_channel) as channels,
        sessions.user_event_count,
        sessions.event_count,
        sessions.conversation_count,
        sessions.ticket_count,
        sessions.has_ticket
    from sessions
    left join versions on {{ bot_version_period_holds('sessions', 'session_start_at') }}
    left join session_channels on sessions.session_id = session_channels.session_id
)

select * from final

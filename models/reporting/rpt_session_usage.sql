{#- The Session Usage report's session-conversation mapping (the underlying data of "Sessions
    consumed"): one row per session and conversation it holds, with every filter of the
    report. A session without any conversation appears once with nulls. -#}

with

sessions as (
    select * from {{ ref('rpt_sessions') }}
),

bridge as (
    select * from {{ ref('bridge_session_conversations') }}
),

conversations as (
    select * from {{ ref('dim_conversations') }}
),

final as (
    select
        sessions.session_id,
        sessions.account_id,
        sessions.bot_id,
        sessions.bot_name,
        sessions.bot_version,
        coalesce(bridge.channel, sessions.first_channel) as channel,
        bridge.conversation_id,
        sessions.customer_id,
        sessions.session_start_at,
        sessions.session_date,
        conversations.conversation_created_at,
        conversations.conversation_updated_at,
        sessions.ticket_count as session_ticket_count
    from sessions
    left join bridge on sessions.session_id = bridge.session_id
    left join conversations on bridge.conversation_id = conversations.conversation_id
)

select * from final

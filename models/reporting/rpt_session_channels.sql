{#- One row per session and channel it touched: the channel filter and the channel widget
    (a session counts once in every channel it touched). -#}

with

channels as (
    select * from {{ ref('bridge_session_channels') }}
),

sessions as (
    select
        session_id,
        session_date
    from {{ ref('fct_sessions') }}
),

final as (
    select
        channels.session_id,
        channels.account_id,
        channels.bot_id,
        sessions.session_date,
        channels.channel
    from channels
    inner join sessions on channels.session_id = sessions.session_id
)

select * from final

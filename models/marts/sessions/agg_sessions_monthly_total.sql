{#- "Sessions consumed" per month and bot: the billing figure, each session counted once. -#}

with

daily as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'session_date') }} as date) as session_month
    from {{ ref('agg_sessions_daily_total') }}
),

final as (
    select
        session_month,
        account_id,
        bot_id,
        sum(sessions) as sessions,
        sum(tickets) as tickets,
        sum(sessions_with_ticket) as sessions_with_ticket
    from daily
    group by session_month, account_id, bot_id
)

select * from final

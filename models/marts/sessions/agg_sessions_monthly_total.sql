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
        cast(sum(sessions) as {{ dbt.type_bigint() }}) as sessions,
        cast(sum(tickets) as {{ dbt.type_bigint() }}) as tickets,
        cast(sum(sessions_with_ticket) as {{ dbt.type_bigint() }}) as sessions_with_ticket
    from daily
    group by session_month, account_id, bot_id
)

select * from final

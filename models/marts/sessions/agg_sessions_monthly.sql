{#- Monthly sessions per bot and channel, summed from the daily rollup (a session has exactly
    one session_date, so it lands in exactly one month). Small: rebuilt on every run. -#}

with

daily as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'session_date') }} as date) as session_month
    from {{ ref('agg_sessions_daily') }}
),

final as (
    select
        session_month,
        account_id,
        bot_id,
        channel,
        cast(sum(sessions) as {{ dbt.type_bigint() }}) as sessions,
        cast(sum(tickets) as {{ dbt.type_bigint() }}) as tickets,
        cast(sum(sessions_with_ticket) as {{ dbt.type_bigint() }}) as sessions_with_ticket
    from daily
    group by session_month, account_id, bot_id, channel
)

select * from final

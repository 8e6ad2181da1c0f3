{#- The daily and monthly session rollups equal the count of fct_sessions per (day or month,
    account, bot), from the earliest day this build replaced. -#}
{{ config(meta={'dagster': {'ref': {'name': 'agg_sessions_daily_total'}}}) }}

with

changed_bots as (
    select * from {{ ref('int_session_days_changed') }}
),

sessions as (
    select sessions.*
    from {{ ref('fct_sessions') }} as sessions
    inner join changed_bots
        on sessions.account_id = changed_bots.account_id
            and sessions.bot_id = changed_bots.bot_id
    where sessions.session_month >= {{ dbt.date_trunc('month', 'changed_bots.replace_from') }}
),

daily_rollup as (
    select daily.*
    from {{ ref('agg_sessions_daily_total') }} as daily
    inner join changed_bots
        on daily.account_id = changed_bots.account_id and daily.bot_id = changed_bots.bot_id
    where daily.session_date >= {{ dbt.date_trunc('month', 'changed_bots.replace_from') }}
),

monthly_rollup as (
    select monthly.*
    from {{ ref('agg_sessions_monthly_total') }} as monthly
    inner join changed_bots
        on monthly.account_id = changed_bots.account_id and monthly.bot_id = changed_bots.bot_id
    where monthly.session_month >= {{ dbt.date_trunc('month', 'changed_bots.replace_from') }}
),

daily_counts as (
    select 'day' as grain, session_date as period_start, account_id, bot_id, count(*) as sessions
    from sessions
    group by session_date, account_id, bot_id
),

monthly_counts as (
    select 'month' as grain, session_month as period_start, account_id, bot_id, count(*) as sessions
    from sessions
    group by session_month, account_id, bot_id
),

counted as (
    select * from daily_counts
    union all
    select * from monthly_counts
),

rolled_up as (
    select 'day' as grain, session_date as period_start, account_id, bot_id, sessions
    from daily_rollup
    union all
    select 'month' as grain, session_month as period_start, account_id, bot_id, sessions
    from monthly_rollup
),

final as (
    select
        coalesce(counted.grain, rolled_up.grain) as grain,
        coalesce(counted.period_start, rolled_up.period_start) as period_start,
        coalesce(counted.account_id, rolled_up.account_id) as account_id,
        coalesce(counted.bot_id, rolled_up.bot_id) as bot_id,
        coalesce(counted.sessions, 0) as fct_sessions,
        coalesce(rolled_up.sessions, 0) as rollup_sessions
    from counted
    full outer join rolled_up
        on counted.grain = rolled_up.grain
            and counted.period_start = rolled_up.period_start
            and counted.account_id = rolled_up.account_id
            and counted.bot_id = rolled_up.bot_id
    where coalesce(counted.sessions, 0) <> coalesce(rolled_up.sessions, 0)
)

select * from final

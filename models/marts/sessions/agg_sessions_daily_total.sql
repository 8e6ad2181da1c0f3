{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='session_date',
        replace_ranges='int_session_days_changed',
    )
}}

{#- Sessions consumed per day and bot, without a channel split (each session once). -#}

-- depends_on: {{ ref('int_session_days_changed') }}

with

sessions as (
    select * from {{ ref('fct_sessions') }}
),

scoped_sessions as (
    {{ rows_from_replace_bound(
        'sessions', 'int_session_days_changed', ['account_id', 'bot_id'], 'session_date',
        enabled=is_incremental(),
    ) }}
),

final as (
    select
        session_date,
        account_id,
        bot_id,
        count(*) as sessions,
        cast(sum(ticket_count) as {{ dbt.type_bigint() }}) as tickets,
        count(case when has_ticket then 1 end) as sessions_with_ticket
    from scoped_sessions
    group by session_date, account_id, bot_id
)

select * from final

{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='event_date',
        replace_ranges='int_engagement_days_changed',
    )
}}

{#- API metrics: one row per day, account, bot and api_name of `api_call` events. An error
    is a status code >= 400 or a missing one. An incremental run replaces the changed bots'
    days from int_engagement_days_changed. -#}

-- depends_on: {{ ref('int_engagement_days_changed') }}

with

api_calls as (
    select
        *,
        {{ api_call_is_error('status_code') }} as is_error
    from {{ ref('stg_botmeter__events') }}
    where event_type = 'api_call'
),

sessions as (
    select * from {{ ref('fct_sessions') }}
),

scoped_api_calls as (
    {{ engagement_changed_days('api_calls', 'event_date') }}
),

scoped_sessions as (
    {{ engagement_sessions_reaching_changed_days('sessions') }}
),

api_calls_in_sessions as (
    {{ events_in_session_windows('scoped_api_calls', 'scoped_sessions') }}
),

final as (
    select
        event_date,
        account_id,
        bot_id,
        api_name,
        count(*) as calls,
        count(case when is_error then 1 end) as error_calls,
        cast(count(case when is_error then 1 end) as double) / count(*) as error_rate,
        {{ engagement_quantile('latency_ms', 0.5) }} as latency_p50,
        {{ engagement_quantile('latency_ms', 0.95) }} as latency_p95,
        {{ engagement_quantile('latency_ms', 0.99) }} as latency_p99,
        max(latency_ms) as latency_max,
        count(distinct case when is_error then session_id end) as sessions_with_errors
    from api_calls_in_sessions
    group by event_date, account_id, bot_id, api_name
)

select * from final

{#- The API Metrics app, one row per API call, so that latency percentiles over any date range
    are exact (percentiles of days do not combine). An error is a status code >= 400 or a
    missing one (the rule of agg_api_calls_daily). -#}

with

calls as (
    select * from {{ ref('stg_botmeter__events') }}
    where event_type = 'api_call'
),

bots as (
    select * from {{ ref('dim_bots') }}
),

final as (
    select
        calls.event_id,
        calls.event_date,
        calls.occurred_at,
        calls.account_id,
        calls.bot_id,
        bots.bot_name,
        calls.api_name,
        calls.status_code,
        calls.latency_ms,
        {{ api_call_is_error('calls.status_code') }} as is_error
    from calls
    inner join bots on calls.account_id = bots.account_id and calls.bot_id = bots.bot_id
)

select * from final

{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='event_date',
        replace_ranges='int_engagement_days_changed',
    )
}}

{#- Engagement rate per day and bot: conversations started / unique impressions. Read from
    agg_usage_daily, replaced over the same (account, bot) days. -#}

-- depends_on: {{ ref('int_engagement_days_changed') }}

with

usage as (
    select * from {{ ref('agg_usage_daily') }}
),

scoped_usage as (
    {{ engagement_changed_days('usage', 'event_date') }}
),

final as (
    select
        event_date,
        account_id,
        bot_id,
        conversations_started,
        unique_impressions,
        cast(conversations_started as double) / nullif(unique_impressions, 0) as engagement_rate
    from scoped_usage
    where conversations_started > 0 or unique_impressions > 0
)

select * from final

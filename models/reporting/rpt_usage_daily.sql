{#- The Usage Metrics app, per day, account and bot, with the bot's current name: every
    figure is a count, so any date range is the sum of its days. -#}

with

usage as (
    select * from {{ ref('agg_usage_daily') }}
),

bots as (
    select * from {{ ref('dim_bots') }}
),

final as (
    select
        usage.event_date,
        usage.account_id,
        usage.bot_id,
        bots.bot_name,
        usage.sessions,
        usage.conversations_started,
        usage.user_messages,
        usage.bot_messages,
        usage.agent_messages,
        usage.unique_impressions,
        usage.tickets,
        usage.intents_matched,
        usage.api_calls
    from usage
    inner join bots on usage.account_id = bots.account_id and usage.bot_id = bots.bot_id
)

select * from final

{#- The engagement widgets (unique impressions, engagement rate) and the Usage app's
    impression figures, per day, account, bot and channel, with the bot's current name. The
    rate over any range is sum(engaged_impressions) / sum(unique_impressions). -#}

with

engagement as (
    select * from {{ ref('agg_engagement_daily') }}
),

bots as (
    select * from {{ ref('dim_bots') }}
),

final as (
    select
        engagement.event_date,
        engagement.account_id,
        engagement.bot_id,
        bots.bot_name,
        engagement.channel,
        engagement.unique_impressions,
        engagement.engaged_impressions,
        engagement.conversations_started
    from engagement
    inner join bots on engagement.account_id = bots.account_id and engagement.bot_id = bots.bot_id
)

select * from final

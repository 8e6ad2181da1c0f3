{#- The Intent Drilldown app, per day, account, bot, bot version (as the intent event reported
    it) and intent: additive counts, so any date range is the sum of its days (average
    confidence = sum(confidence_sum) / sum(matches)). -#}

with

intents as (
    select * from {{ ref('agg_intents_daily') }}
),

bots as (
    select * from {{ ref('dim_bots') }}
),

final as (
    select
        intents.event_date,
        intents.account_id,
        intents.bot_id,
        bots.bot_name,
        intents.bot_version,
        intents.intent,
        intents.matches,
        intents.fallback_matches,
        intents.low_confidence_matches,
        intents.confidence_sum
    from intents
    inner join bots on intents.account_id = bots.account_id and intents.bot_id = bots.bot_id
)

select * from final

{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='event_date',
        replace_ranges='int_engagement_days_changed',
    )
}}

{#- Intent drilldown: one row per day, account, bot, bot version and intent of
    `intent_matched` events. An incremental run replaces the changed bots' days from
    int_engagement_days_changed (new intent events and every event whose session may have
    changed are on or after it). -#}

-- depends_on: {{ ref('int_engagement_days_changed') }}

with

intent_events as (
    select * from {{ ref('stg_botmeter__events') }}
    where event_type = 'intent_matched'
),

sessions as (
    select * from {{ ref('fct_sessions') }}
),

scoped_intent_events as (
    {{ engagement_changed_days('intent_events', 'event_date') }}
),

scoped_sessions as (
    {{ engagement_sessions_reaching_changed_days('sessions') }}
),

intent_events_in_sessions as (
    {{ events_in_session_windows('scoped_intent_events', 'scoped_sessions') }}
),

final as (
    select
        event_date,
        account_id,
        bot_id,
        bot_version,
        intent,
        count(*) as matches,
        count(distinct session_id) as sessions,
        count(distinct conversation_id) as conversations,
        avg(confidence) as avg_confidence,
        {{ engagement_quantile('confidence', 0.5) }} as p50_confidence,
        cast(
            count(
                case
                    when
                        coalesce(is_fallback, false)
                        or intent in ({{ engagement_string_literals(var('fallback_intents')) }})
                        then 1
                end
            ) as double
        ) / count(*) as fallback_share,
        cast(
            count(case when confidence < {{ var('low_confidence_threshold') }} then 1 end)
            as double
        ) / count(*) as low_confidence_share
    from intent_events_in_sessions
    group by event_date, account_id, bot_id, bot_version, intent
)

select * from final

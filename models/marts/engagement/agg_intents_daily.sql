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

classified as (
    select
        *,
        coalesce(is_fallback, false)
        or intent in (
            {{ engagement_string_literals(var('fallback_intents')) }}
        ) as is_fallback_match,
        confidence < {{ var('low_confidence_threshold') }} as is_low_confidence
    from intent_events_in_sessions
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
        -- the exact sum in decimals, so the average does not depend on the order rows were
        -- added (an incremental build and a full refresh agree bit for bit)
        {{ exact_sum('confidence') }} as confidence_sum,
        cast({{ exact_sum('confidence') }} as double) / count(confidence) as avg_confidence,
        {{ engagement_quantile('confidence', 0.5) }} as p50_confidence,
        count(case when is_fallback_match then 1 end) as fallback_matches,
        count(case when is_low_confidence then 1 end) as low_confidence_matches,
        cast(count(case when is_fallback_match then 1 end) as double) / count(*)
            as fallback_share,
        cast(count(case when is_low_confidence then 1 end) as double) / count(*)
            as low_confidence_share
    from classified
    group by event_date, account_id, bot_id, bot_version, intent
)

select * from final

{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='event_date',
        replace_ranges='int_engagement_days_changed',
    )
}}

{#- Engagement per day, account, bot and channel: the share of unique impressions that led to
    a conversation. A unique impression is engaged when its visitor (customer_id) started a
    conversation with the same bot within the impression's window (its first load +
    var('unique_impression_hours'), end exclusive), so the rate never passes 100 %. It is
    counted on the impression's day and channel. Conversations started on a channel without
    page loads (whatsapp, sms, ...) follow no impression: their rows show the starts and no
    rate. -#}

-- depends_on: {{ ref('int_engagement_days_changed') }}

with

impressions as (
    select * from {{ ref('fct_impressions') }}
    where is_unique
),

starts as (
    select
        account_id,
        bot_id,
        customer_id,
        channel,
        occurred_at,
        event_date
    from {{ ref('stg_botmeter__events') }}
    where event_type = 'conversation_started'
),

scoped_impressions as (
    {{ engagement_changed_days('impressions', 'impression_date') }}
),

scoped_starts as (
    {{ engagement_changed_days('starts', 'event_date') }}
),

engaged as (
    select distinct scoped_impressions.impression_id
    from scoped_impressions
    inner join scoped_starts
        on scoped_impressions.account_id = scoped_starts.account_id
            and scoped_impressions.bot_id = scoped_starts.bot_id
            and scoped_impressions.customer_id = scoped_starts.customer_id
            and scoped_impressions.impression_at <= scoped_starts.occurred_at
            and scoped_starts.occurred_at
            < {{ engagement_impression_window_end('scoped_impressions.impression_at') }}
),

impression_counts as (
    select
        scoped_impressions.impression_date as event_date,
        scoped_impressions.account_id,
        scoped_impressions.bot_id,
        scoped_impressions.channel,
        count(*) as unique_impressions,
        count(engaged.impression_id) as engaged_impressions
    from scoped_impressions
    left join engaged on scoped_impressions.impression_id = engaged.impression_id
    group by 1, 2, 3, 4
),

start_counts as (
    select
        event_date,
        account_id,
        bot_id,
        channel,
        count(*) as conversations_started
    from scoped_starts
    group by 1, 2, 3, 4
),

final as (
    select
        coalesce(impression_counts.event_date, start_counts.event_date) as event_date,
        coalesce(impression_counts.account_id, start_counts.account_id) as account_id,
        coalesce(impression_counts.bot_id, start_counts.bot_id) as bot_id,
        coalesce(impression_counts.channel, start_counts.channel) as channel,
        coalesce(impression_counts.unique_impressions, 0) as unique_impressions,
        coalesce(impression_counts.engaged_impressions, 0) as engaged_impressions,
        cast(impression_counts.engaged_impressions as double)
        / nullif(impression_counts.unique_impressions, 0) as engagement_rate,
        coalesce(start_counts.conversations_started, 0) as conversations_started
    from impression_counts
    full outer join start_counts
        on impression_counts.event_date = start_counts.event_date
            and impression_counts.account_id = start_counts.account_id
            and impression_counts.bot_id = start_counts.bot_id
            and impression_counts.channel = start_counts.channel
)

select * from final

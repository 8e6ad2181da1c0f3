{#- Per (account, bot) touched by this run, the first day from which every engagement daily
    aggregate (impressions, intents, API calls, usage, KPI counts) is replaced. It is the
    earliest of:
    - the day of any event of the batch (events counted on their own day, impressions whose
      unique status changes: a load's status depends only on earlier loads, so nothing
      before the key's first new load changes), or for a conversation start the day one
      impression window earlier (the impressions it can engage);
    - int_session_days_changed (every session recomputed this run starts on or after it,
      and events before it keep their session);
    - the first day of every conversation holding an event of the batch (conversations are
      counted on the day of their first event).
    Every group before that day has the same inputs as before, so replacing the bot's groups
    from that day on equals a full recompute. On a full refresh: every (account, bot). -#}

with

batch_events as (
    select * from {{ ref('stg_botmeter__events') }}
    where {{ in_run_batch('arrival_date') }}
),

session_days as (
    select * from {{ ref('int_session_days_changed') }}
),

conversations as (
    select * from {{ ref('int_conversations') }}
),

event_days as (
    -- a conversation start can engage a unique impression up to one impression window
    -- before it (agg_engagement_daily)
    select
        account_id,
        bot_id,
        min(
            case
                when event_type = 'conversation_started'
                    then cast({{ add_to_timestamp(
                        'hour', -var('unique_impression_hours'), 'occurred_at'
                    ) }} as date)
                else event_date
            end
        ) as replace_from
    from batch_events
    group by account_id, bot_id
),

batch_conversations as (
    select distinct conversation_id
    from batch_events
    where conversation_id is not null and event_type <> 'impression'
),

conversation_days as (
    select
        conversations.account_id,
        conversations.bot_id,
        min(cast(conversations.conversation_created_at as date)) as replace_from
    from conversations
    inner join batch_conversations
        on conversations.conversation_id = batch_conversations.conversation_id
    group by conversations.account_id, conversations.bot_id
),

all_days as (
    select
        account_id,
        bot_id,
        replace_from
    from event_days
    union all
    select
        account_id,
        bot_id,
        replace_from
    from session_days
    union all
    select
        account_id,
        bot_id,
        replace_from
    from conversation_days
),

final as (
    select
        account_id,
        bot_id,
        min(replace_from) as replace_from
    from all_days
    group by account_id, bot_id
)

select * from final

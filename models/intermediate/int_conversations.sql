{{
    config(
        materialized='incremental',
        unique_key='conversation_id',
        incremental_strategy='delete+insert',
    )
}}

{#- One row per conversation: when it was created and last updated, and the account, bot,
    customer and channel of its first event (by time, then event_id). Conversations touched
    by a build merge their previous row with the build's events (events only ever get added,
    so min/max merge exactly; a build that lost events rebuilds every model). -#}

with

events as (
    select * from {{ ref('int_events_sessionized') }}
    where conversation_id is not null
),

first_events as (
    -- the first event's columns (by time, then event_id) in one hash aggregate: numbering
    -- the events per conversation sorted them all (3.0 s -> 1.1 s at 10M events)
    select
        conversation_id,
        min(occurred_at) as conversation_created_at,
        max(occurred_at) as conversation_updated_at,
        {{ first_by(
            ordered_struct(['event_id', 'account_id', 'bot_id', 'customer_id', 'channel']),
            ['occurred_at', 'event_id']
        ) }} as first_event
    from events
    group by conversation_id
),

scoped_summary as (
    select
        conversation_id,
        conversation_created_at,
        conversation_updated_at,
        first_event['event_id'] as first_event_id,
        first_event['account_id'] as account_id,
        first_event['bot_id'] as bot_id,
        first_event['customer_id'] as customer_id,
        first_event['channel'] as channel
    from first_events
),

{% if is_incremental() %}
previous as (
    select previous_rows.*
    from {{ this }} as previous_rows
    inner join scoped_summary on previous_rows.conversation_id = scoped_summary.conversation_id
),

merged as (
    select
        scoped_summary.conversation_id,
        least(scoped_summary.conversation_created_at, coalesce(previous.conversation_created_at, scoped_summary.conversation_created_at)) as conversation_created_at,
        greatest(scoped_summary.conversation_updated_at, coalesce(previous.conversation_updated_at, scoped_summary.conversation_updated_at)) as conversation_updated_at,
        case
            when
                previous.conversation_id is null
                or scoped_summary.conversation_created_at < previous.conversation_created_at
                or (
                    scoped_summary.conversation_created_at = previous.conversation_created_at
                    and scoped_summary.first_event_id < previous.first_event_id
                )
                then 'scoped'
            else 'previous'
        end as first_event_source,
        scoped_summary.first_event_id as scoped_first_event_id,
        scoped_summary.account_id as scoped_account_id,
        scoped_summary.bot_id as scoped_bot_id,
        scoped_summary.customer_id as scoped_customer_id,
        scoped_summary.channel as scoped_channel,
        previous.first_event_id as previous_first_event_id,
        previous.account_id as previous_account_id,
        previous.bot_id as previous_bot_id,
        previous.customer_id as previous_customer_id,
        previous.channel as previous_channel
    from scoped_summary
    left join previous on scoped_summary.conversation_id = previous.conversation_id
),

summary as (
    select
        conversation_id,
        conversation_created_at,
        conversation_updated_at,
        case when first_event_source = 'scoped' then scoped_first_event_id else previous_first_event_id end as first_event_id,
        case when first_event_source = 'scoped' then scoped_account_id else previous_account_id end as account_id,
        case when first_event_source = 'scoped' then scoped_bot_id else previous_bot_id end as bot_id,
        case when first_event_source = 'scoped' then scoped_customer_id else previous_customer_id end as customer_id,
        case when first_event_source = 'scoped' then scoped_channel else previous_channel end as channel
    from merged
),
{% else %}
    summary as (
        select * from scoped_summary
    ),
{% endif %}

final as (
    select
        conversation_id,
        account_id,
        bot_id,
        customer_id,
        channel,
        conversation_created_at,
        conversation_updated_at,
        first_event_id
    from summary
)

select * from final

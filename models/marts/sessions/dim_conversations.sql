{{
    config(
        materialized='incremental',
        unique_key='conversation_id',
        incremental_strategy='delete+insert',
    )
}}

{#- Conversations with their sessions and tickets: the conversations a build touched (those
    with an event of a changed session key) are recounted from the already-updated bridge and
    ticket marts. -#}

-- depends_on: {{ ref('int_events_sessionized') }}

with

conversations as (
    select * from {{ ref('int_conversations') }}
),

{% if is_incremental() %}
    touched as (
        select distinct conversation_id
        from {{ ref('int_events_sessionized') }}
        where conversation_id is not null
    ),
{% endif %}

bridge as (
    select * from {{ ref('bridge_session_conversations') }}
),

tickets as (
    select * from {{ ref('fct_tickets') }}
),

scoped_conversations as (
    select conversations.*
    from conversations
    {% if is_incremental() %}
        inner join touched on conversations.conversation_id = touched.conversation_id
    {% endif %}
),

session_counts as (
    select
        bridge.conversation_id,
        count(distinct bridge.session_id) as session_count
    from bridge
    inner join scoped_conversations
        on bridge.conversation_id = scoped_conversations.conversation_id
    group by bridge.conversation_id
),

ticket_counts as (
    select
        tickets.conversation_id,
        count(distinct tickets.ticket_id) as ticket_count
    from tickets
    inner join scoped_conversations
        on tickets.conversation_id = scoped_conversations.conversation_id
    group by tickets.conversation_id
),

final as (
    select
        scoped_conversations.conversation_id,
        scoped_conversations.account_id,
        scoped_conversations.bot_id,
        scoped_conversations.customer_id,
        scoped_conversations.channel,
        scoped_conversations.conversation_created_at,
        scoped_conversations.conversation_updated_at,
        coalesce(session_counts.session_count, 0) as session_count,
        coalesce(ticket_counts.ticket_count, 0) as ticket_count,
        scoped_conversations.first_event_id
    from scoped_conversations
    left join session_counts
        on scoped_conversations.conversation_id = session_counts.conversation_id
    left join ticket_counts
        on scoped_conversations.conversation_id = ticket_counts.conversation_id
)

select * from final

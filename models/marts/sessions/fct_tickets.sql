{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id', 'customer_id'],
        replace_column='ticket_created_at',
        replace_ranges='int_session_ranges_changed',
    )
}}

{#- One row per ticket (its earliest ticket_created event). A ticket created after its
    session window closed belongs to no session (session_id is null). -#}

-- depends_on: {{ ref('int_session_ranges_changed') }}

with

ticket_events as (
    select * from {{ ref('int_events_sessionized') }}
    where event_type = 'ticket_created'
),

ranked as (
    select
        *,
        row_number() over (partition by ticket_id order by occurred_at, event_id) as ticket_rank
    from ticket_events
),

final as (
    select
        ticket_id,
        conversation_id,
        session_id,
        occurred_at as ticket_created_at,
        event_date as ticket_created_date,
        account_id,
        bot_id,
        customer_id,
        channel,
        event_id as ticket_event_id,
        session_id is not null as is_in_session
    from ranked
    where ticket_rank = 1
)

select * from final

{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
    )
}}

{#- One row per event_id: the earliest arrival wins (arrival date, then file, then line).
    An incremental run re-decides only the event_ids that appear in the run's arrival dates,
    against every raw copy of them, so the winner never depends on landing order. -#}

with

raw_events as (
    select * from {{ source('raw', 'events') }}
),

{% if is_incremental() %}
batch_event_ids as (
    select distinct event_id
    from raw_events
    where {{ in_run_batch('arrival_date') }}
),
{% endif %}

candidates as (
    select raw_events.*
    from raw_events
    {% if is_incremental() %}
        inner join batch_event_ids on raw_events.event_id = batch_event_ids.event_id
    {% endif %}
    where raw_events.occurred_at >= {{ data_start_at() }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by event_id
            order by arrival_date, source_file, line_number
        ) as arrival_rank,
        count(*) over (partition by event_id) as arrival_copies
    from candidates
),

final as (
    select
        event_id,
        event_type,
        occurred_at,
        cast(occurred_at as date) as event_date,
        account_id,
        bot_id,
        customer_id,
        channel,
        bot_name,
        bot_version,
        conversation_id,
        actor,
        coalesce(actor = 'user' and event_type <> 'impression', false) as is_user_activity,
        page_url,
        intent,
        confidence,
        is_fallback,
        api_name,
        status_code,
        latency_ms,
        ticket_id,
        kpi_name,
        kpi_value,
        properties,
        arrival_date,
        source_file,
        line_number,
        arrival_copies
    from ranked
    where arrival_rank = 1
)

select * from final

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

first_copies as (
    {#- A narrow hash aggregate instead of a window sort over wide rows; first_copy is a
        struct, which sqlfluff takes for a table (hence the RF01 noqa below). #}
    select
        event_id,
        min({{ ordered_struct(['arrival_date', 'source_file', 'line_number']) }}) as first_copy,
        count(*) as arrival_copies
    from candidates
    group by event_id
),

winning_copies as (
    select
        candidates.*,
        first_copies.arrival_copies
    from candidates
    inner join first_copies
        on
            candidates.event_id = first_copies.event_id
            and candidates.arrival_date = first_copies.first_copy.arrival_date  -- noqa: RF01
            and candidates.source_file = first_copies.first_copy.source_file  -- noqa: RF01
            and candidates.line_number = first_copies.first_copy.line_number  -- noqa: RF01
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
    from winning_copies
)

select * from final

{#- Staging reconciles with raw, for the events of this build's batch: every event_id of raw
    is staged exactly once, from its earliest copy (arrival date, file, line), and nothing is
    staged that raw does not hold. With the landing balances this is the whole equation:
    lines read = staged events + rejected lines + duplicate copies dropped. -#}
{{ config(meta={'dagster': {'ref': {'name': 'stg_botmeter__events'}}}) }}

with

batch_copies as (
    select event_id, arrival_date, source_file, line_number
    from {{ source('raw', 'events') }}
    where event_id in (
        select event_id from {{ source('raw', 'events') }}
        where {{ in_run_batch('arrival_date') }}
    )
),

earliest as (
    select
        event_id,
        min({{ ordered_struct(['arrival_date', 'source_file', 'line_number']) }}) as first_copy
    from batch_copies
    group by event_id
),

staged as (
    select event_id, arrival_date, source_file, line_number, count(*) over (partition by event_id) as times_staged
    from {{ ref('stg_botmeter__events') }}
    where event_id in (select event_id from earliest)
        or {{ in_run_batch('arrival_date') }}
),

problems as (
    select
        coalesce(earliest.event_id, staged.event_id) as event_id,
        case
            when staged.event_id is null then 'not staged'
            when earliest.event_id is null then 'staged without a raw copy'
            when staged.times_staged > 1 then 'staged more than once'
            else 'not the earliest copy'
        end as problem
    from earliest
    full outer join staged on earliest.event_id = staged.event_id
    where
        staged.event_id is null
        or earliest.event_id is null
        or staged.times_staged > 1
        or staged.arrival_date <> earliest.first_copy.arrival_date  -- noqa: RF01
        or staged.source_file <> earliest.first_copy.source_file  -- noqa: RF01
        or staged.line_number <> earliest.first_copy.line_number  -- noqa: RF01
)

select * from problems

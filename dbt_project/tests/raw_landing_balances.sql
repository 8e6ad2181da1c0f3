{#- Nothing lost at landing, per arrival date: lines read = accepted + rejected, the accepted
    and rejected counts are the rows in raw.events and raw.quarantine, the files' lines add
    up to the lines read, and no raw row belongs to a date without an audit row. (A check of
    the raw layer, shown on the staging model that reads it: dagster-dbt attaches a test to
    one model, and raw is a source.) -#}
{{ config(meta={'dagster': {'ref': {'name': 'stg_botmeter__events'}}}) }}
-- depends_on: {{ ref('stg_botmeter__events') }}
with

audit as (
    select * from {{ source('raw', 'load_audit') }}
),

events as (
    select arrival_date, count(*) as rows_in_events
    from {{ source('raw', 'events') }}
    group by arrival_date
),

quarantine as (
    select arrival_date, count(*) as rows_in_quarantine
    from {{ source('raw', 'quarantine') }}
    group by arrival_date
),

files as (
    select arrival_date, sum(lines_read) as lines_in_files
    from {{ source('raw', 'landing_files') }}
    where is_landed
    group by arrival_date
),

balances as (
    select
        coalesce(audit.arrival_date, events.arrival_date, quarantine.arrival_date)
            as arrival_date,
        audit.lines_read,
        audit.accepted,
        audit.rejected,
        coalesce(events.rows_in_events, 0) as rows_in_events,
        coalesce(quarantine.rows_in_quarantine, 0) as rows_in_quarantine,
        coalesce(files.lines_in_files, 0) as lines_in_files
    from audit
    full outer join events on audit.arrival_date = events.arrival_date
    full outer join quarantine
        on coalesce(audit.arrival_date, events.arrival_date) = quarantine.arrival_date
    left join files on audit.arrival_date = files.arrival_date
)

select * from balances
where
    lines_read is null
    or lines_read <> accepted + rejected
    or accepted <> rows_in_events
    or rejected <> rows_in_quarantine
    or lines_read <> lines_in_files

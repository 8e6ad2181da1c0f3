{#- Session keys that received events in this run, with the earliest new event time. On a
    full refresh every key is "changed" from its first event. -#}

with

batch_events as (
    select * from {{ ref('stg_botmeter__events') }}
    where
        event_type <> 'impression'
        and {{ in_run_batch('arrival_date') }}
),

final as (
    select
        account_id,
        bot_id,
        customer_id,
        min(occurred_at) as changed_from
    from batch_events
    group by account_id, bot_id, customer_id
)

select * from final

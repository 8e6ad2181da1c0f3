{#- Per changed key, the bound from which its sessions (now updated in int_sessions) and
    everything derived from them are replaced: min(t, start of the first session whose window
    ends after t). Sessions before it end at or before it, so no event at or after the bound
    belongs to them, and every session at or after it is re-emitted downstream. -#}

with

changed_keys as (
    select * from {{ ref('int_session_keys_changed') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

bounds as (
    select
        changed_keys.account_id,
        changed_keys.bot_id,
        changed_keys.customer_id,
        least(
            changed_keys.changed_from,
            coalesce(min(sessions.session_start_at), changed_keys.changed_from)
        ) as replace_from
    from changed_keys
    left join sessions
        on changed_keys.account_id = sessions.account_id
            and changed_keys.bot_id = sessions.bot_id
            and changed_keys.customer_id = sessions.customer_id
            and changed_keys.changed_from < sessions.session_window_end_at
    group by
        changed_keys.account_id,
        changed_keys.bot_id,
        changed_keys.customer_id,
        changed_keys.changed_from
),

final as (
    -- session_key: one integer per changed key (numbered in key order), so joins and the
    -- ASOF join downstream sort an integer instead of three strings (9.8 s -> 8.2 s at 10M)
    select
        *,
        row_number() over (order by account_id, bot_id, customer_id) as session_key
    from bounds
)

select * from final

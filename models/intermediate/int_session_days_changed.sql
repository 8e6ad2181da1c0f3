{#- The (account, bot) day from which daily session rollups are replaced: the earliest
    replace bound of any changed customer of the bot. -#}

with

ranges as (
    select * from {{ ref('int_session_ranges_changed') }}
),

final as (
    select
        account_id,
        bot_id,
        cast(min(replace_from) as date) as replace_from
    from ranges
    group by account_id, bot_id
)

select * from final

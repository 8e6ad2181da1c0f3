{#- What each bot was called and which version it ran, from when to when: one row per period
    of a (name, version) pair as the bot's events reported it (int_bot_labels). A name or a
    version is known from the first event that carries it until another one arrives. Before a
    bot reported a name (or a version), its first reported one applies, so no session of a
    bot that ever reported a name shows a blank one; a bot that never did is shown by its id. -#}

with

labels as (
    select * from {{ ref('int_bot_labels') }}
),

first_names as (
    select
        account_id,
        bot_id,
        {{ first_by('bot_name', ['known_from', 'known_from_event_id']) }} as first_name
    from labels
    where bot_name is not null
    group by account_id, bot_id
),

first_versions as (
    select
        account_id,
        bot_id,
        {{ first_by('bot_version', ['known_from', 'known_from_event_id']) }} as first_version
    from labels
    where bot_version is not null
    group by account_id, bot_id
),

periods as (
    select
        account_id,
        bot_id,
        bot_name,
        bot_version,
        known_from as valid_from,
        lead(known_from) over (
            partition by account_id, bot_id order by known_from, known_from_event_id
        ) as valid_to,
        row_number() over (
            partition by account_id, bot_id order by known_from, known_from_event_id
        ) = 1 as is_first_period
    from labels
),

final as (
    select
        periods.account_id,
        periods.bot_id,
        coalesce(periods.bot_name, first_names.first_name, periods.bot_id) as bot_name,
        coalesce(periods.bot_version, first_versions.first_version) as bot_version,
        periods.valid_from,
        periods.valid_to,
        periods.is_first_period
    from periods
    left join first_names
        on periods.account_id = first_names.account_id
            and periods.bot_id = first_names.bot_id
    left join first_versions
        on periods.account_id = first_versions.account_id
            and periods.bot_id = first_versions.bot_id
)

select * from final

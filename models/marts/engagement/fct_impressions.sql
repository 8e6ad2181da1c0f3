{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id', 'customer_id', 'page_url'],
        replace_column='impression_at',
    )
}}

{#- One row per impression with the unique impression it belongs to (anchored windows).
    Incremental bound per key with new loads from t: the latest existing unique impression at
    or before t (or t when there is none). That load is still unique and is the first load
    at or after the bound, every earlier row is unchanged (a load's status depends only on
    earlier loads, all before t), and every load at or after the bound is re-emitted, so the
    replace_range strategy (min(impression_at) of the batch per key) deletes exactly the
    rows that are recomputed. See the model docs for the algorithm. -#}

with

impressions as (
    select * from {{ ref('stg_botmeter__events') }}
    where event_type = 'impression'
),

{% if is_incremental() %}
changed_keys as (
    select
        account_id,
        bot_id,
        customer_id,
        page_url,
        min(occurred_at) as changed_from
    from impressions
    where {{ in_run_batch('arrival_date') }}
    group by account_id, bot_id, customer_id, page_url
),

previous_unique_impressions as (
    select
        account_id,
        bot_id,
        customer_id,
        page_url,
        impression_at
    from {{ this }}
    where is_unique
),

recompute_bounds as (
    select
        changed_keys.account_id,
        changed_keys.bot_id,
        changed_keys.customer_id,
        changed_keys.page_url,
        coalesce(max(previous_unique_impressions.impression_at), changed_keys.changed_from)
            as replace_from
    from changed_keys
    left join previous_unique_impressions
        on changed_keys.account_id = previous_unique_impressions.account_id
            and changed_keys.bot_id = previous_unique_impressions.bot_id
            and changed_keys.customer_id = previous_unique_impressions.customer_id
            and changed_keys.page_url = previous_unique_impressions.page_url
            and previous_unique_impressions.impression_at <= changed_keys.changed_from
    group by
        changed_keys.account_id,
        changed_keys.bot_id,
        changed_keys.customer_id,
        changed_keys.page_url,
        changed_keys.changed_from
),
{% endif %}

loads as (
    select
        impressions.event_id as impression_id,
        impressions.account_id,
        impressions.bot_id,
        impressions.customer_id,
        impressions.page_url,
        impressions.channel,
        impressions.occurred_at as impression_at
    from impressions
    {% if is_incremental() %}
        inner join recompute_bounds
            on impressions.account_id = recompute_bounds.account_id
                and impressions.bot_id = recompute_bounds.bot_id
                and impressions.customer_id = recompute_bounds.customer_id
                and impressions.page_url = recompute_bounds.page_url
        where impressions.occurred_at >= recompute_bounds.replace_from
    {% endif %}
),

-- One integer per impression key: the ASOF join, the window and the group-bys below then
-- partition and sort by an integer instead of four strings (6.7 s -> 4.7 s at 10M events).
impression_keys as {{ cte_hint('materialized') }} (
    select
        account_id,
        bot_id,
        customer_id,
        page_url,
        row_number() over (order by account_id, bot_id, customer_id, page_url) as impression_key
    from (
        select distinct
            account_id,
            bot_id,
            customer_id,
            page_url
        from loads
    ) as distinct_keys
),

keyed_loads as {{ cte_hint('materialized') }} (
    select
        loads.*,
        impression_keys.impression_key
    from loads
    inner join impression_keys
        on loads.account_id is not distinct from impression_keys.account_id
            and loads.bot_id is not distinct from impression_keys.bot_id
            and loads.customer_id is not distinct from impression_keys.customer_id
            and loads.page_url is not distinct from impression_keys.page_url
),

-- the first load of every key and instant (ties on the instant: smaller impression_id first)
instants as {{ cte_hint('materialized') }} (
    select
        impression_key,
        impression_at,
        min(impression_id) as impression_id
    from keyed_loads
    group by impression_key, impression_at
),

next_loads as {{ cte_hint('materialized') }} (
    {{ engagement_next_impression_loads('keyed_loads', 'instants') }}
),

first_instants as (
    select
        impression_key,
        min(impression_at) as impression_at
    from instants
    group by impression_key
),

-- the first load of each key in scope is unique (see the bound above)
seeds as (
    select instants.impression_id
    from instants
    inner join first_instants
        on instants.impression_key = first_instants.impression_key
            and instants.impression_at = first_instants.impression_at
),

unique_impressions as (
    {{ engagement_walk_unique_impressions('seeds', 'next_loads', 'keyed_loads') }}
),

marked as (
    select
        keyed_loads.*,
        unique_impressions.impression_id is not null as is_unique
    from keyed_loads
    left join unique_impressions on keyed_loads.impression_id = unique_impressions.impression_id
),

final as (
    select
        impression_id,
        {{ engagement_last_non_null(
            'case when is_unique then impression_id end',
            'impression_key',
            'impression_at, impression_id'
        ) }} as unique_impression_id,
        is_unique,
        account_id,
        bot_id,
        customer_id,
        page_url,
        channel,
        impression_at,
        cast(impression_at as date) as impression_date
    from marked
)

select * from final

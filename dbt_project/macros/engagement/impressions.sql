{#-
  Unique impressions (anchored windows). Every relation passed in has impression_key (one
  integer per account_id, bot_id, customer_id, page_url), impression_id and impression_at.
  The order of loads is (impression_at, impression_id) everywhere.

  The chain of unique impressions of a key is u0 = the key's first load and
  u(k+1) = next(u(k)), where next(x) = the first load at or after x + window. These macros
  compute next() for every load (set-based, one ASOF join on DuckDB) and then walk only the
  chain (one recursion step per unique impression, not per load). Spark walks each key's
  loads in one fold instead (spark__engagement_walk_unique_impressions).
-#}

{#- The window end of a load: impression_at + var('unique_impression_hours') hours. -#}
{% macro engagement_impression_window_end(impression_at) -%}
    {{ add_to_timestamp('hour', var('unique_impression_hours'), impression_at) }}
{%- endmacro %}


{#- For every load of `loads`: next_impression_id = the first load of the same key at or after
    its window end (null when there is none). `instants` holds the first load of every
    (key, impression_at), so ties on the instant resolve to the smaller impression_id. -#}
{% macro engagement_next_impression_loads(loads, instants) -%}
    {{ return(adapter.dispatch('engagement_next_impression_loads', 'botmeter')(loads, instants)) }}
{%- endmacro %}

{#- DuckDB: an ASOF join finds, per load, the earliest instant >= its window end. -#}
{% macro duckdb__engagement_next_impression_loads(loads, instants) -%}
    select
        windows.impression_id,
        instants.impression_id as next_impression_id
    from (
        select
            impression_key,
            impression_id,
            {{ engagement_impression_window_end('impression_at') }} as window_end_at
        from {{ loads }}
    ) as windows
    asof left join {{ instants }} as instants
        on windows.impression_key = instants.impression_key
            and instants.impression_at >= windows.window_end_at
{%- endmacro %}

{#- Portable: merge window-end probes with the instants of the key and take the first instant
    at or after each probe (probes sort before instants at the same time, so an instant
    exactly at the window end is found: the end is exclusive). -#}
{% macro default__engagement_next_impression_loads(loads, instants) -%}
    select
        probes.impression_id,
        instants.impression_id as next_impression_id
    from (
        select
            impression_id,
            impression_key,
            min(case when is_instant = 1 then point_at end) over (
                partition by impression_key
                order by point_at, is_instant
                rows between current row and unbounded following
            ) as next_instant_at,
            is_instant
        from (
            select
                impression_id,
                impression_key,
                {{ engagement_impression_window_end('impression_at') }} as point_at,
                0 as is_instant
            from {{ loads }}
            union all
            select
                impression_id,
                impression_key,
                impression_at as point_at,
                1 as is_instant
            from {{ instants }}
        ) as points
    ) as probes
    left join {{ instants }} as instants
        on probes.impression_key = instants.impression_key
            and probes.next_instant_at = instants.impression_at
    where probes.is_instant = 0
{%- endmacro %}

{#- Walk the chains: start from `seeds` (impression_id of the first load of every key in
    `loads`, which is unique) and follow next_impression_id of `next_loads`. Returns the
    impression_id of every unique impression. One recursion step per unique impression of the
    longest chain. -#}
{% macro engagement_walk_unique_impressions(seeds, next_loads, loads) -%}
    {{ return(adapter.dispatch('engagement_walk_unique_impressions', 'botmeter')(seeds, next_loads, loads)) }}
{%- endmacro %}

{#- Spark runs a recursive CTE's inputs again at every step (next_loads: a window over every
    load in scope) and stops it at 100 steps or 1,000,000 rows (spark.sql.cteRecursion*Limit):
    a year of daily visits is 365 steps, 10M events over a million unique impressions. So it
    walks each key's loads in (impression_at, impression_id) order in one fold instead: a load
    at or after the open window's end is the next unique impression and opens its window. That
    is next() by definition, so the result is the chain's; keys divide across executors. -#}
{% macro spark__engagement_walk_unique_impressions(seeds, next_loads, loads) -%}
    select explode(walked.unique_ids) as impression_id
    from (
        select
            aggregate(
                in_order,
                named_struct(
                    'window_end_at', {{ engagement_impression_window_end('in_order[0].impression_at') }},
                    'unique_ids', array(in_order[0].impression_id)
                ),
                (open_window, next_load) -> case
                    when next_load.impression_at >= open_window.window_end_at
                        then named_struct(
                            'window_end_at', {{ engagement_impression_window_end('next_load.impression_at') }},
                            'unique_ids', array_append(open_window.unique_ids, next_load.impression_id)
                        )
                    else open_window
                end
            ) as walked
        from (
            select array_sort(collect_list(struct(impression_at, impression_id))) as in_order
            from {{ loads }}
            group by impression_key
        ) as keys_in_order
    ) as walks
{%- endmacro %}

{% macro default__engagement_walk_unique_impressions(seeds, next_loads, loads) -%}
    with recursive unique_chain (impression_id) as (
        select impression_id from {{ seeds }}
        union all
        select next_loads.next_impression_id
        from unique_chain
        inner join {{ next_loads }} as next_loads
            on unique_chain.impression_id = next_loads.impression_id
        where next_loads.next_impression_id is not null
    )

    select impression_id from unique_chain
{%- endmacro %}

{#- The last non-null value of `expression` over the key's loads up to the current one. -#}
{% macro engagement_last_non_null(expression, partition_by, order_by) -%}
    {{ return(adapter.dispatch('engagement_last_non_null', 'botmeter')(expression, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__engagement_last_non_null(expression, partition_by, order_by) -%}
    last_value({{ expression }}) ignore nulls over (
        partition by {{ partition_by }}
        order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}

{% macro duckdb__engagement_last_non_null(expression, partition_by, order_by) -%}
    last_value({{ expression }} ignore nulls) over (
        partition by {{ partition_by }}
        order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}

{#- Deterministic session id: the same session always gets the same id on any re-run. -#}
{% macro session_id(account_id, bot_id, customer_id, session_start_at) -%}
    {{ dbt.hash(dbt.concat([
        account_id, "'|'", bot_id, "'|'", customer_id, "'|'",
        "cast(" ~ session_start_at ~ " as " ~ dbt.type_string() ~ ")"
    ])) }}
{%- endmacro %}

{#- Session boundaries over a relation of user events (is_user_activity rows only):
    a user event starts a session when it is the key's first or comes `session_timeout_minutes`
    or more after the previous user event of the key. Returns one row per user event.
    `with_positions`: also the event's number within its key (user_event_number), the key's
    event count (key_user_events) and last event (key_last_at), computed in the same window,
    so one sort of the events yields everything a session needs. -#}
{% macro user_events_with_boundaries(user_events, with_positions=false) -%}
    {%- set key_order -%}
        partition by account_id, bot_id, customer_id
        order by occurred_at, event_id
    {%- endset -%}
    select
        *,
        case
            when previous_user_event_at is null then 'first_activity'
            when occurred_at >= {{ session_timeout_end('previous_user_event_at') }}
                then 'inactivity_gap'
        end as new_session_reason
    from (
        select
            *,
            {%- if with_positions %}
            row_number() over ({{ key_order }}) as user_event_number,
            count(*) over (
                {{ key_order }}
                rows between unbounded preceding and unbounded following
            ) as key_user_events,
            last_value(occurred_at) over (
                {{ key_order }}
                rows between unbounded preceding and unbounded following
            ) as key_last_at,
            {%- endif %}
            lag(occurred_at) over ({{ key_order }}) as previous_user_event_at
        from {{ user_events }}
    ) as user_events_with_previous
{%- endmacro %}

{#- Attach to every event the session of its key whose window [start, window_end) holds it.
    `keys`: the columns both relations identify the key by (one integer is cheaper to sort
    than the three strings). -#}
{% macro events_in_session_windows(events, sessions, keys=['account_id', 'bot_id', 'customer_id']) -%}
    {{ return(adapter.dispatch('events_in_session_windows', 'botmeter')(events, sessions, keys)) }}
{%- endmacro %}

{% macro default__events_in_session_windows(events, sessions, keys) -%}
    select
        ev.*,
        sess.session_id,
        sess.session_start_at
    from {{ events }} as ev
    left join {{ sessions }} as sess
        on {% for key in keys %}ev.{{ key }} = sess.{{ key }}
        and {% endfor %}ev.occurred_at >= sess.session_start_at
        and ev.occurred_at < sess.session_window_end_at
{%- endmacro %}

{#- DuckDB: sessions of a key are disjoint and ordered, so the latest session starting at or
    before the event (ASOF) is the only candidate; it holds the event if the window is open. -#}
{% macro duckdb__events_in_session_windows(events, sessions, keys) -%}
    select
        ev.*,
        case when ev.occurred_at < sess.session_window_end_at then sess.session_id end
            as session_id,
        case when ev.occurred_at < sess.session_window_end_at then sess.session_start_at end
            as session_start_at
    from {{ events }} as ev
    asof left join {{ sessions }} as sess
        on {% for key in keys %}ev.{{ key }} = sess.{{ key }}
        and {% endfor %}ev.occurred_at >= sess.session_start_at
{%- endmacro %}

{#- The rows of `relation` on or after their key's bound in `bounds` (a ref name holding the
    key columns and `replace_from`): the rows an incremental build recomputes and replaces
    (docs/incremental.md). `with_columns` of the bounds come along (e.g. session_key);
    `enabled=false` keeps every row. -#}
{% macro rows_from_replace_bound(relation, bounds, keys, column, with_columns=[], enabled=true) -%}
    select
        scoped.*
        {%- for extra in with_columns %},
        bounds.{{ extra }}
        {%- endfor %}
    from {{ relation }} as scoped
    {%- if enabled %}
        inner join {{ ref(bounds) }} as bounds
            on {% for key in keys -%}
                scoped.{{ key }} = bounds.{{ key }}{% if not loop.last %} and {% endif %}
            {%- endfor %}
        where scoped.{{ column }} >= bounds.replace_from
    {%- endif %}
{%- endmacro %}

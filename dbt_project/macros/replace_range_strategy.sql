{#-
  Incremental strategy `replace_range`: for every key in the new batch, delete the target rows
  of that key from a lower bound on, then insert the batch. This is how a late event that
  merges or extends sessions replaces exactly the sessions it touched (see docs/incremental.md).

  Config:
    replace_keys:   key columns, e.g. ['account_id', 'bot_id', 'customer_id']
    replace_column: ordered column bounding the replaced range, e.g. 'session_start_at'
    replace_ranges: optional relation name (a ref'd model) with the key columns and
                    `replace_from`; without it the bound is min(replace_column) per key of the
                    batch, which is exact when the batch re-emits every row at/after the bound.
-#}
{% macro get_incremental_replace_range_sql(arg_dict) %}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set keys = config.require('replace_keys') -%}
    {%- set column = config.require('replace_column') -%}
    {%- set ranges = config.get('replace_ranges', none) -%}
    {%- set dest_columns = arg_dict["dest_columns"] -%}
    {%- set cols = get_quoted_csv(dest_columns | map(attribute="name")) -%}
    delete from {{ target }} as tgt
    using (
        {%- if ranges %}
        select {{ keys | join(', ') }}, min(replace_from) as replace_from
        from {{ ref(ranges) }}
        group by {{ keys | join(', ') }}
        {%- else %}
        select {{ keys | join(', ') }}, min({{ column }}) as replace_from
        from {{ source }}
        group by {{ keys | join(', ') }}
        {%- endif %}
    ) as rng
    where {% for k in keys %}tgt.{{ k }} = rng.{{ k }} and {% endfor -%}
        tgt.{{ column }} >= rng.replace_from;

    insert into {{ target }} ({{ cols }})
    select {{ cols }} from {{ source }};
{% endmacro %}

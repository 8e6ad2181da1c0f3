{{
    config(
        materialized='incremental',
        incremental_strategy='replace_range',
        replace_keys=['account_id', 'bot_id'],
        replace_column='impression_date',
        replace_ranges='int_engagement_days_changed',
    )
}}

{#- Impressions and unique impressions per day, account, bot and page. An incremental run
    replaces the changed bots' days from int_engagement_days_changed on (every changed
    impression is on or after its key's first new load). -#}

-- depends_on: {{ ref('int_engagement_days_changed') }}

with

impressions as (
    select * from {{ ref('fct_impressions') }}
),

scoped_impressions as (
    {{ engagement_changed_days('impressions', 'impression_date') }}
),

final as (
    select
        impression_date,
        account_id,
        bot_id,
        page_url,
        count(*) as impressions,
        count(case when is_unique then 1 end) as unique_impressions
    from scoped_impressions
    group by impression_date, account_id, bot_id, page_url
)

select * from final

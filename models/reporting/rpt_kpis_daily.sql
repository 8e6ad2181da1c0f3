{#- The KPI Metrics app, per KPI of the loaded configuration (day and month grains), day,
    account, bot and channel: numerator and denominator units, so the value over any range is
    sum(numerator) / sum(denominator) (or the numerator for a KPI without denominator). -#}

with

definitions as (
    select * from {{ engagement_kpi_config_relation('kpi_definitions') }}
),

counts as (
    select * from {{ ref('int_kpi_counts_daily') }}
),

bots as (
    select * from {{ ref('dim_bots') }}
),

units as (
    select
        counts.kpi_name,
        counts.kpi_date,
        counts.account_id,
        counts.bot_id,
        counts.channel,
        sum(case when counts.part = 'numerator' then counts.units else 0 end) as numerator,
        sum(case when counts.part = 'denominator' then counts.units else 0 end) as denominator
    from counts
    inner join definitions
        on counts.kpi_name = definitions.kpi_name
            and counts.config_hash = definitions.config_hash
    group by 1, 2, 3, 4, 5
),

final as (
    select
        units.kpi_name,
        definitions.description as kpi_description,
        definitions.grain as kpi_grain,
        definitions.denominator_count is not null as has_denominator,
        units.kpi_date,
        units.account_id,
        units.bot_id,
        bots.bot_name,
        units.channel,
        cast(units.numerator as {{ dbt.type_bigint() }}) as numerator,
        cast(units.denominator as {{ dbt.type_bigint() }}) as denominator
    from units
    inner join definitions on units.kpi_name = definitions.kpi_name
    inner join bots on units.account_id = bots.account_id and units.bot_id = bots.bot_id
)

select * from final

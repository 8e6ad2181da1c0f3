{#- KPI values per day for the KPIs of grain `day` in config/kpis.yml: one row per KPI, day,
    account, bot and channel with a numerator or denominator unit. Rebuilt every run from the
    small int_kpi_counts_daily, so it always matches the loaded configuration. -#}

with

definitions as (
    select * from {{ engagement_kpi_config_relation('kpi_definitions') }}
    where grain = 'day'
),

counts as (
    select * from {{ ref('int_kpi_counts_daily') }}
),

units as (
    -- only the counts of the loaded configuration
    select
        counts.kpi_name,
        counts.kpi_date,
        counts.account_id,
        counts.bot_id,
        counts.channel,
        sum(case when counts.part = 'numerator' then counts.units else 0 end) as numerator_units,
        sum(case when counts.part = 'denominator' then counts.units else 0 end)
            as denominator_units
    from counts
    inner join definitions
        on counts.kpi_name = definitions.kpi_name
            and counts.config_hash = definitions.config_hash
    group by 1, 2, 3, 4, 5
),

final as (
    select
        units.kpi_name,
        units.kpi_date,
        units.account_id,
        units.bot_id,
        units.channel,
        cast(units.numerator_units as {{ dbt.type_bigint() }}) as numerator,
        case
            when definitions.denominator_count is not null
                then cast(units.denominator_units as {{ dbt.type_bigint() }})
        end as denominator,
        {{ kpi_value(
            'units.numerator_units',
            'units.denominator_units',
            'definitions.denominator_count is not null',
        ) }} as value
    from units
    inner join definitions on units.kpi_name = definitions.kpi_name
)

select * from final

{#- KPI values per day for the KPIs of grain `day` in config/kpis.yml: one row per KPI, day,
    account, bot and channel with a numerator or denominator unit. Rebuilt every run from the
    small int_kpi_counts_daily, so it always matches the loaded configuration. -#}

{{ engagement_kpi_values('day', 'kpi_date') }}

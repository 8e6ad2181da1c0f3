{#- KPI values per month for the KPIs of grain `month` in config/kpis.yml: one row per KPI,
    month (first day), account, bot and channel. Every unit is counted on exactly one day and
    channel, so a month is the sum of its days. Rebuilt every run from int_kpi_counts_daily. -#}

{{ engagement_kpi_values('month', 'kpi_month') }}

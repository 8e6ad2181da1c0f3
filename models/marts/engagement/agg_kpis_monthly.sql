{#- KPI values per month for every KPI in config/kpis.yml (grain day or month): one row per KPI,
    month (first day), account, bot and channel. Every unit is counted on exactly one day and
    channel, so a month is the sum of its days. Rebuilt every run from int_kpi_counts_daily. -#}

{{ engagement_kpi_values('month', 'kpi_month') }}

"""Daily arrival-date partitions of the landing asset."""

from functools import cache

import dagster as dg

from botmeter.settings import load_rules


@cache
def daily_arrival_partitions() -> dg.DailyPartitionsDefinition:
    """One partition per arrival date from the data start (dbt_project.yml). end_offset=1
    lets today's folder be landed; the schedule lands what is pending."""
    return dg.DailyPartitionsDefinition(
        start_date=load_rules().data_start_date.isoformat(), timezone="UTC", end_offset=1
    )

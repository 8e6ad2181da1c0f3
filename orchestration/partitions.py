"""Daily arrival-date partitions shared by the landing asset and the dbt models."""

import dagster as dg

from orchestration.settings import DATA_START_DATE

# end_offset=1 lets today's arrival folder be landed by hand; the schedule lands yesterday.
daily_arrival_partitions = dg.DailyPartitionsDefinition(
    start_date=DATA_START_DATE.isoformat(), timezone="UTC", end_offset=1
)

"""The one Definitions object of the botmeter code location, assembled from its parts:
landing (assets/raw_events.py), the KPI configuration, the dbt project, serving, and the
jobs, schedule and sensor that run them."""

from __future__ import annotations

import dagster as dg

from assets.kpi_definitions import kpi_definitions
from assets.raw_events import raw_events
from assets.serving import dashboard, parquet_export, published_warehouse
from orchestration.dbt import botmeter_dbt_models, dbt_resource
from orchestration.jobs import daily_job
from orchestration.progress import file_logger, progress_logger
from orchestration.resources import WarehouseResource
from orchestration.schedules import daily_schedule
from orchestration.sensors import landing_sensor

defs = dg.Definitions(
    assets=[
        raw_events,
        kpi_definitions,
        botmeter_dbt_models,
        published_warehouse,
        parquet_export,
        dashboard,
    ],
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=[landing_sensor],
    resources={"warehouse": WarehouseResource(), "dbt": dbt_resource()},
    loggers={"progress": progress_logger, "file": file_logger},
    executor=dg.in_process_executor,
)

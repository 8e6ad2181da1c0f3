"""The one Definitions object of the botmeter code location."""

from __future__ import annotations

import dagster as dg

from assets.publish import dashboard, published_warehouse
from assets.raw_events import raw_events
from checks.asset_checks import botmeter_asset_checks
from orchestration.dbt_assets import botmeter_dbt_models, dbt_resource
from orchestration.jobs import daily_job, daily_schedule
from orchestration.resources import WarehouseResource

defs = dg.Definitions(
    assets=[raw_events, botmeter_dbt_models, published_warehouse, dashboard],
    asset_checks=botmeter_asset_checks,
    jobs=[daily_job],
    schedules=[daily_schedule],
    resources={"warehouse": WarehouseResource(), "dbt": dbt_resource()},
    executor=dg.in_process_executor,
)

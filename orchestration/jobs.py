"""Jobs and schedules, built from asset selections rather than hand-typed keys."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster_dbt import build_dbt_asset_selection

from assets.publish import dashboard, published_warehouse
from assets.raw_events import raw_events
from orchestration.dbt_assets import botmeter_dbt_models

pipeline_selection = (
    dg.AssetSelection.assets(raw_events)
    | build_dbt_asset_selection([botmeter_dbt_models], dbt_select="fqn:*")
    # botmeter's own checks on the dbt marts (dbt's tests come with the selection above).
    | dg.AssetSelection.checks_for_assets(botmeter_dbt_models)
    | dg.AssetSelection.assets(published_warehouse, dashboard)  # serving: after the marts
)

daily_job = dg.define_asset_job(
    name="botmeter_daily",
    selection=pipeline_selection,
    executor_def=dg.in_process_executor,
    description="Land arrival dates and bring every dbt model and check up to date.",
)


@dg.schedule(
    job=daily_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every day at 02:00 UTC: land yesterday's arrival folder and update the models.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    yesterday = context.scheduled_execution_time.astimezone(dt.UTC).date() - dt.timedelta(1)
    return dg.RunRequest(run_key=yesterday.isoformat(), partition_key=yesterday.isoformat())

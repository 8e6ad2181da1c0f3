"""The daily schedule: at 02:00 UTC, whatever is pending (normally yesterday's folder)."""

import dagster as dg

from orchestration.jobs import daily_job
from orchestration.resources import WarehouseResource
from orchestration.sensors import evaluate_pending


@dg.schedule(
    job=daily_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every day at 02:00 UTC: land what arrived, build the models, publish.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    request = evaluate_pending(context, warehouse)
    if isinstance(request, dg.RunRequest):  # one run per tick: no run key needed
        return dg.RunRequest(
            job_name=request.job_name,
            asset_selection=request.asset_selection,
            run_config=request.run_config,
            tags=request.tags,
        )
    return request

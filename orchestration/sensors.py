"""The landing sensor: launches what is pending when arrival folders appear or change."""

import dagster as dg

from assets.landing import LandingError
from botmeter.settings import ConfigError
from orchestration.jobs import daily_job, next_run_request
from orchestration.pending import changed_dbt_models, find_pending
from orchestration.resources import (
    WarehouseCorruptError,
    WarehouseLockedError,
    WarehouseResource,
    run_lock,
)


def evaluate_pending(
    context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext,
    warehouse: WarehouseResource,
) -> dg.RunRequest | dg.SkipReason:
    """One run request for what is pending, or why nothing is launched (shared by the
    sensor and the schedule, so both decide exactly as `botmeter run` does)."""
    from orchestration.dbt import botmeter_dbt_models

    path = warehouse.resolved_warehouse()
    try:
        with run_lock(path):
            changed = changed_dbt_models(context.instance, botmeter_dbt_models)
            pending = find_pending(path, warehouse.resolved_landing(), changed_models=changed)
    except WarehouseLockedError as exc:
        return dg.SkipReason(str(exc))
    except (LandingError, ConfigError, WarehouseCorruptError) as exc:
        return dg.SkipReason(f"not launched: {exc}")
    request = next_run_request(pending, context.repository_def.asset_graph)
    if request is None:
        return dg.SkipReason("nothing pending: every landed day is built and published")
    return request


@dg.sensor(
    job=daily_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Every two minutes: land new or changed arrival folders, build and publish. A run "
        "key per pending state, so a failed run is not relaunched until something changes."
    ),
)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    return evaluate_pending(context, warehouse)

"""dbt models as Dagster assets, partitioned like the raw landing they read."""

import datetime as dt

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from pydantic import Field

from orchestration import build_state, settings
from orchestration.dbt_project import (
    botmeter_dbt_project,
    dbt_executable,
    dbt_run_vars,
    prune_invocation_folders,
)
from orchestration.kpi_config import load_kpi_definitions
from orchestration.partitions import daily_arrival_partitions
from orchestration.quiet_skips import quiet_skipped_check_warnings
from orchestration.resources import WarehouseResource
from orchestration.settings import dashboard_path, kpi_config_path


class BotmeterDbtTranslator(DagsterDbtTranslator):
    """Group dbt assets by layer (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return fqn[1]
        return super().get_group_name(dbt_resource_props)


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False, description="Rebuild every incremental model from all staged events."
    )


def dbt_build_args(context: dg.AssetExecutionContext, full_refresh: bool) -> list[str]:
    """`dbt build` for the run's arrival dates; a full refresh ignores the dates.

    dbt unit tests check the SQL, not the data: they run in the test suite
    (tests/test_dbt_unit_tests.py), not in every production build (dbt's own advice).
    """
    args = ["build", "--exclude-resource-type", "unit_test"]
    if full_refresh:
        return [*args, "--full-refresh"]
    window = context.partition_key_range
    return [*args, "--vars", dbt_run_vars(window.start, window.end)]


@dbt_assets(
    manifest=botmeter_dbt_project().manifest_path,
    project=botmeter_dbt_project(),
    partitions_def=daily_arrival_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=BotmeterDbtTranslator(),
)
def botmeter_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    config: DbtBuildConfig,
):
    # Only a build of the whole project can stand for "the models are up to date".
    whole = not context.is_subset
    published = settings.published_path(warehouse=warehouse.resolved_warehouse())
    # KPI definitions are data the KPI models join to (never SQL text): load them first.
    with warehouse.connection() as con:
        load_kpi_definitions(con, kpi_config_path())
        signature = build_state.project_signature()
        reason = "a full refresh" if config.full_refresh else "a partial selection"
        if whole and not config.full_refresh:
            reason = build_state.why_build(con, signature, published, dashboard_path(published))
        if reason is not None:
            landed = build_state.start_build(con)
            replaced = build_state.replaced_dates(con) if whole else {}
    if reason is None:
        yield from _unchanged(context)
        return
    context.log.info(f"building the models: {reason}")
    full_refresh = config.full_refresh or bool(replaced)
    if replaced and not config.full_refresh:
        context.log.warning(
            f"rebuilding every model (dbt --full-refresh): {len(replaced)} arrival date(s) "
            f"lost or changed events since the models read them, e.g. {next(iter(replaced))}"
        )
    with warehouse.dbt_environment():
        invocation = dbt.cli(dbt_build_args(context, full_refresh), context=context)
        try:
            yield from invocation.stream()
        finally:
            prune_invocation_folders(invocation.target_path)
    if whole:  # dbt succeeded (a failed build raised above): record what it read
        window = None
        if not full_refresh:
            keys = context.partition_key_range
            window = (dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end))
        with warehouse.connection() as con:
            build_state.record_build(con, signature, window, context.run.run_id, landed)
            if full_refresh:
                build_state.clear_replaced(con, replaced)


UNCHANGED_METADATA_KEY = "botmeter/unchanged"


def _unchanged(context: dg.AssetExecutionContext):
    """No materialization: the marts' checks and the publish after them are skipped too."""
    message = (
        "models not rebuilt: every arrival date's raw rows were already built by the last "
        "published build of this project (orchestration/build_state.py)"
    )
    context.log.info(message)
    quiet_skipped_check_warnings()
    for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
        yield dg.AssetObservation(asset_key=key, metadata={UNCHANGED_METADATA_KEY: message})


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=botmeter_dbt_project(), dbt_executable=dbt_executable())

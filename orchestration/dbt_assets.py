"""dbt models as Dagster assets, partitioned like the raw landing they read."""

import json
import sys
from functools import cache
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from orchestration.partitions import daily_arrival_partitions
from orchestration.resources import WarehouseResource
from orchestration.settings import PROJECT_ROOT


@cache
def botmeter_dbt_project() -> DbtProject:
    """The dbt project at the repository root; the manifest is prepared on first use."""
    project = DbtProject(
        project_dir=PROJECT_ROOT,
        profiles_dir=PROJECT_ROOT / "dbt_project",
        target_path=PROJECT_ROOT / "target",
    )
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        prepare_manifest(project)
    return project


def prepare_manifest(project: DbtProject) -> None:
    """Parse the dbt project into target/manifest.json (needed before definitions load)."""
    import subprocess

    subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(project.project_dir),
            "--profiles-dir",
            str(project.profiles_dir),
            "--target-path",
            str(project.target_path),
        ],
        check=True,
        cwd=project.project_dir,
    )


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


def dbt_build_args(context: dg.AssetExecutionContext, config: DbtBuildConfig) -> list[str]:
    """`dbt build` for the run's arrival dates; a full refresh ignores the dates."""
    args = ["build"]
    if config.full_refresh:
        return [*args, "--full-refresh"]
    window = context.partition_key_range
    return [
        *args,
        "--vars",
        json.dumps({"run_start_date": window.start, "run_end_date": window.end}),
    ]


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
    with warehouse.dbt_environment():
        yield from dbt.cli(dbt_build_args(context, config), context=context).stream()


def dbt_executable() -> str:
    """dbt from this interpreter's environment, so it works without an activated venv."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=botmeter_dbt_project(), dbt_executable=dbt_executable())

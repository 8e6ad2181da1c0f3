"""The dbt project as Dagster assets: every model, and every dbt test as an asset check.

The models decide for themselves what to process (the loads since the last successful build,
dbt_project/macros/build_record.sql), so the dbt assets are not partitioned: any `dbt build`,
from the CLI, the schedule, the UI or a shell, processes exactly what is pending.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from pydantic import Field

from assets.lake import export_config, export_raw, import_models
from botmeter import settings
from orchestration.resources import WarehouseResource

DBT_PROJECT_DIR = settings.PROJECT_ROOT
DBT_PROFILES_DIR = settings.PROJECT_ROOT / "dbt_project"
DBT_TARGET_DIR = settings.PROJECT_ROOT / "target"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# dbt invocation folders kept under target/ (compiled SQL and run_results.json of recent runs).
KEPT_INVOCATION_FOLDERS = 10
OWNERS = ["team:botmeter-data"]


def dbt_executable() -> str:
    """dbt from this interpreter's environment, so it works without an activated venv."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def _dbt_on_path() -> None:
    """dagster-dbt's project preparer (`dagster dev`) runs `dbt` from PATH: when the venv is
    not activated, put this interpreter's bin folder, where dbt is, first on PATH."""
    if shutil.which("dbt") is None:
        bin_dir = str(Path(sys.executable).parent)
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


@contextlib.contextmanager
def parsing_manifest(warehouse: Path | None = None) -> Iterator[None]:
    """Parse the dbt project into target/manifest.json while the block runs.

    `dbt parse` runs in its own process (about 5 s, mostly one core), so the caller can import
    what it needs meanwhile; the manifest is in place when the block exits, and a failed parse
    raises there. The parse writes into a private folder whose files are renamed into
    target/, so a process reading the manifest at the same time never sees a half-written
    file.
    """
    target = DBT_TARGET_DIR
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, settings.WAREHOUSE_ENV: str(settings.warehouse_path(warehouse))}
    with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as private:
        state = target / PARTIAL_PARSE_FILE
        if state.exists():
            shutil.copy2(state, private)
        command = [
            dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROFILES_DIR),
            "--target-path",
            private,
        ]
        parse = subprocess.Popen(command, cwd=DBT_PROJECT_DIR, env=env)
        try:
            yield
        finally:
            returncode = parse.wait()
        if returncode != 0:
            raise subprocess.CalledProcessError(returncode, command)
        for name in (PARTIAL_PARSE_FILE, "manifest.json"):  # the manifest last
            if (Path(private) / name).exists():
                os.replace(Path(private) / name, target / name)


def prepare_manifest(warehouse: Path | None = None) -> None:
    """Parse the dbt project into target/manifest.json (needed before the assets load)."""
    with parsing_manifest(warehouse):
        pass


@cache
def botmeter_dbt_project() -> DbtProject:
    """The dbt project at the repository root; the manifest is prepared on first use."""
    _dbt_on_path()
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROFILES_DIR, target_path=DBT_TARGET_DIR
    )
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        prepare_manifest()
    return project


def prune_invocation_folders(current: Path, keep: int = KEPT_INVOCATION_FOLDERS) -> list[Path]:
    """Remove all but the newest `keep` dbt invocation folders beside `current`.

    dagster-dbt gives every `dbt build` its own `target/<op>-<run>-<uuid>/` (compiled SQL, run
    results, logs: megabytes each) and never removes one, so a daily schedule grows target/
    by a folder a day. Folders of other ops and dbt's own files are left alone.
    """
    prefix = current.name.split("-", 1)[0] + "-"
    folders = sorted(
        (p for p in current.parent.glob(prefix + "*") if p.is_dir() and p != current),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = folders[max(keep - 1, 0) :]
    for old in removed:
        shutil.rmtree(old, ignore_errors=True)
    return removed


class BotmeterDbtTranslator(DagsterDbtTranslator):
    """Groups by layer (staging, intermediate, marts, reporting), botmeter's owners, and the
    raw and config sources mapped to the assets that write them."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return fqn[1]
        return super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return super().get_owners(dbt_resource_props) or OWNERS


TRANSLATOR = BotmeterDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False, description="Rebuild every model from all raw rows (dbt --full-refresh)."
    )


def dbt_build_args(full_refresh: bool, engine: str = settings.DEFAULT_ENGINE) -> list[str]:
    """`dbt build` of whatever the run selected (every model: the daily_build selector of
    selectors.yml, which leaves dbt unit tests to the test suite), on the engine's target."""
    return ["build", "--target", engine, *(["--full-refresh"] if full_refresh else [])]


def engine_dbt(dbt: DbtCliResource, engine: str) -> DbtCliResource:
    """The dbt CLI for `engine`: DuckDB's is the resource; Spark's runs from its own
    environment (settings.spark_dbt_executable)."""
    if engine == "duckdb":
        return dbt
    return DbtCliResource(
        project_dir=botmeter_dbt_project(),
        dbt_executable=str(settings.spark_dbt_executable()),
    )


@dbt_assets(
    manifest=botmeter_dbt_project().manifest_path,
    project=botmeter_dbt_project(),
    dagster_dbt_translator=TRANSLATOR,
    selector="daily_build",
)
def botmeter_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    config: DbtBuildConfig,
):
    engine = warehouse.resolved_engine()
    if engine == "spark":
        # Spark reads the raw and config tables as Parquet (assets/lake.py): bring them up to
        # date first (a no-op for the dates already there).
        with warehouse.connection(read_only=True) as con:
            written = export_raw(con, warehouse.lake())
            export_config(con, warehouse.lake())
        context.log.info(f"lake: {len(written)} arrival date(s) written to {warehouse.lake()}")
    with warehouse.dbt_environment():
        invocation = engine_dbt(dbt, engine).cli(
            dbt_build_args(config.full_refresh, engine), context=context
        )
        try:
            # Outputs wait until dbt has finished: the row counts and column types added to
            # them are read from the warehouse, which dbt holds exclusively while it runs.
            outputs = []
            for event in invocation.stream():
                if isinstance(event, dg.Output | dg.AssetMaterialization):
                    key = _key_of(context, event)
                    context.log.info(f"model {key.to_user_string()} built")
                    outputs.append((key, event))
                else:
                    yield event
        finally:
            manifest_path = invocation.target_path / "manifest.json"
            if engine == "spark" and manifest_path.exists():
                # The marts and the build record, from the lake into the warehouse the
                # publish and the next run read (also after a failed build: its record says so).
                manifest = json.loads(manifest_path.read_text())
                with warehouse.connection() as con:
                    count = import_models(con, warehouse.lake(), manifest)
                context.log.info(f"lake: {count} marts and reporting tables read back from Spark")
            prune_invocation_folders(invocation.target_path)
    with warehouse.connection(read_only=True) as con:
        for key, event in outputs:
            yield _with_table_metadata(con, key, event)


def _key_of(context: dg.AssetExecutionContext, event) -> dg.AssetKey:
    if isinstance(event, dg.AssetMaterialization):
        return event.asset_key
    return context.asset_key_for_output(event.output_name)


def _with_table_metadata(con, key: dg.AssetKey, event):
    """`dagster/row_count` and `dagster/column_schema` of the model's relation."""
    if len(key.path) != 2:
        return event
    schema, name = key.path
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    if not columns:
        return event
    metadata = {
        **event.metadata,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=c, type=t) for c, t in columns]
        ),
    }
    # A view's count would run its whole query again (minutes at 10M events for the
    # reporting views); its rows are counted once, when it is published (meta.publish_info).
    (table_type,) = con.execute(
        "select table_type from information_schema.tables "
        "where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    if table_type == "BASE TABLE":
        rows = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
        metadata["dagster/row_count"] = dg.MetadataValue.int(int(rows))
    if isinstance(event, dg.Output):
        return event.with_metadata(metadata)
    return dg.AssetMaterialization(
        asset_key=key, description=event.description, metadata=metadata, tags=event.tags
    )


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=botmeter_dbt_project(), dbt_executable=dbt_executable())

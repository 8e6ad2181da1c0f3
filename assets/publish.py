"""Publish the marts to a separate read-only DuckDB file (and Parquet) for analysts and BI tools.

Why a separate file: DuckDB lets one process hold a database file for writing, and a reader
holding the working warehouse open makes `dbt build` fail ("Conflicting lock is held"). So BI
tools read `<warehouse stem>_published.duckdb` instead, which the pipeline replaces after every
successful run:

1. every table and view of schema `marts` is copied (views materialized as tables) into
   `<published>.tmp`, written with DuckDB storage version `v1.0.0` (storage format 64, which
   every DuckDB since 0.10 and all 1.x drivers read; DuckDB 2.0's default format 69 is
   unreadable by 1.x: "only read versions between 64 and 68");
2. the file is closed (checkpointed, no WAL left) and `os.replace`d over the previous one, an
   atomic rename: a reader sees the old or the new file, never a mix, and a reader holding the
   old file open keeps reading it undisturbed;
3. each table is exported as Parquet, `<published dir>/parquet/<table>/data.parquet`, into a
   fresh folder that is swapped in by rename.

Any failure before step 2 leaves the previous published file untouched.
"""

import dataclasses
import datetime as dt
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import build_state, settings
from orchestration.progress import Progress
from orchestration.resources import WarehouseResource, apply_session_settings

# Storage compatibility version of the published file (see module docstring).
STORAGE_VERSION = "v1.0.0"
MARTS_SCHEMA = "marts"
META_TABLE = settings.PUBLISH_INFO_TABLE


class PublishError(RuntimeError):
    """Publishing was refused or failed; the previous published file is unchanged."""


@dataclasses.dataclass(frozen=True)
class PublishResult:
    path: Path
    parquet_dir: Path
    tables: dict[str, int]  # table -> rows
    storage_version: str
    published_at: dt.datetime


def parquet_dir_for(published: Path) -> Path:
    return published.parent / "parquet"


def _sql_str(value: str | os.PathLike) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def blocking_failures(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Why the marts must not be published: open blocking failures in the check ledger, plus
    any blocking check the ledger never saw, run now (see checks/ledger.py)."""
    from checks.ledger import publish_gate

    return publish_gate(con)


def mart_relations(
    con: duckdb.DuckDBPyConnection, catalog: str | None = None
) -> list[tuple[str, str]]:
    """(name, 'BASE TABLE'|'VIEW') of schema marts, sorted by name."""
    where_catalog = f"and table_catalog = {_sql_str(catalog)}" if catalog else ""
    return con.execute(
        f"""select table_name, table_type from information_schema.tables
            where table_schema = ? {where_catalog} order by table_name""",
        [MARTS_SCHEMA],
    ).fetchall()


def publish(warehouse: Path, published: Path | None = None, check: bool = True) -> PublishResult:
    """Copy the marts of `warehouse` into the published file and Parquet folders, atomically."""
    warehouse = Path(warehouse)
    published = Path(published) if published else settings.published_path(warehouse=warehouse)
    published.parent.mkdir(parents=True, exist_ok=True)
    tmp = published.with_name(published.name + ".tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)

    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con = duckdb.connect()  # in-memory; attaches the working file read-only and the new file
    spill = published.parent / ".publish_spill"
    apply_session_settings(con, spill_dir=spill)
    tables: dict[str, int] = {}
    try:
        con.execute(f"attach {_sql_str(warehouse)} as src (read_only)")
        if check:
            failures = blocking_failures(con.cursor().execute("use src"))
            if failures:
                shown = "; ".join(str(f) for f in failures[:5])
                raise PublishError(
                    f"refusing to publish: {len(failures)} blocking data-quality check(s) "
                    f"failed: {shown}"
                )
        relations = mart_relations(con, "src")
        if not relations:
            raise PublishError(
                f"no tables in schema {MARTS_SCHEMA} of {warehouse}: nothing to publish"
            )
        con.execute(f"attach {_sql_str(tmp)} as dst (storage_version {_sql_str(STORAGE_VERSION)})")
        con.execute(f"create schema dst.{MARTS_SCHEMA}")
        con.execute("create schema dst.meta")
        with Progress("publish", total=len(relations), unit="tables") as bar:
            for name, _kind in relations:
                qualified = f"{MARTS_SCHEMA}.{_ident(name)}"
                con.execute(f"create table dst.{qualified} as select * from src.{qualified}")
                rows = con.execute(f"select count(*) from dst.{qualified}").fetchone()[0]
                tables[name] = rows
                bar.advance(rows=rows, label=name)
        con.execute(
            f"""create table dst.{META_TABLE} as select
                  cast(? as timestamp) as published_at, ? as source_warehouse,
                  ? as storage_version, ? as table_count""",
            [published_at, str(warehouse), STORAGE_VERSION, len(tables)],
        )
        con.execute("detach dst")  # checkpoints and closes the new file
        con.execute("detach src")
    except BaseException:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    con.close()
    shutil.rmtree(spill, ignore_errors=True)

    os.replace(tmp, published)  # the atomic switch
    parquet_dir = _export_parquet(published, tables)
    return PublishResult(published, parquet_dir, tables, STORAGE_VERSION, published_at)


def _export_parquet(published: Path, tables: dict[str, int]) -> Path:
    """One folder per table, written fresh beside the live one and swapped in by rename."""
    target = parquet_dir_for(published)
    fresh = target.with_name(target.name + ".tmp")
    old = target.with_name(target.name + ".old")
    for path in (fresh, old):
        shutil.rmtree(path, ignore_errors=True)
    fresh.mkdir(parents=True)
    con = apply_session_settings(duckdb.connect(str(published), read_only=True))
    try:
        with Progress("parquet", total=len(tables), unit="tables") as bar:
            for name, rows in tables.items():
                folder = fresh / name
                folder.mkdir()
                con.execute(
                    f"copy (select * from {MARTS_SCHEMA}.{_ident(name)}) "
                    f"to {_sql_str(folder / 'data.parquet')} (format parquet)"
                )
                bar.advance(rows=rows, label=name)
    finally:
        con.close()
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


# --- Dagster assets -------------------------------------------------------------------------


def _mart_asset_keys() -> list[dg.AssetKey]:
    from orchestration.dbt_assets import botmeter_dbt_models

    groups = botmeter_dbt_models.group_names_by_key
    return sorted((k for k, g in groups.items() if g == "marts"), key=lambda k: k.to_user_string())


def _daily_partitions():
    from orchestration.partitions import daily_arrival_partitions

    return daily_arrival_partitions


PUBLISHED_KEY = dg.AssetKey(["serving", "published_warehouse"])
DASHBOARD_KEY = dg.AssetKey(["serving", "dashboard"])


@dg.asset(
    key=PUBLISHED_KEY,
    deps=_mart_asset_keys(),
    partitions_def=_daily_partitions(),
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="serving",
    description=(
        "The marts copied into a separate read-only DuckDB file (storage version "
        f"{STORAGE_VERSION}, readable by DuckDB 1.x drivers) plus Parquet folders, for BI tools."
    ),
)
def published_warehouse(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    working = warehouse.resolved_warehouse()
    try:
        result = publish(working, settings.published_path(warehouse=working))
    except PublishError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"published {len(result.tables)} tables to {result.path}")
    with warehouse.connection() as con:
        build_state.record_published(con, result.published_at)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "parquet_dir": dg.MetadataValue.path(str(result.parquet_dir)),
            "storage_version": result.storage_version,
            "tables": len(result.tables),
            "rows": dg.MetadataValue.json(result.tables),
            "sqlalchemy_url": f"duckdb:///{result.path}?access_mode=read_only",
        }
    )


@dg.asset(
    key=DASHBOARD_KEY,
    deps=[PUBLISHED_KEY],
    partitions_def=_daily_partitions(),
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="serving",
    description="The Session Usage dashboard (one self-contained HTML file, last 30 data days).",
)
def dashboard(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from orchestration.dashboard import render_html
    from orchestration.report import ReportError, build_report

    working = warehouse.resolved_warehouse()
    published = settings.published_path(warehouse=working)
    out = settings.dashboard_path(published)
    try:
        report = build_report(published)
    except ReportError as exc:  # an empty warehouse is not a failed run
        context.log.warning(f"dashboard not written: {exc}")
        return dg.MaterializeResult(metadata={"skipped": str(exc)})
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_html(report), encoding="utf-8")
    os.replace(tmp, out)
    with warehouse.connection() as con:
        build_state.record_dashboard(con)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out)),
            "range": f"{report['filters']['from']}..{report['filters']['to']}",
            "sessions": report["kpis"]["sessions"],
        }
    )

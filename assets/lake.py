"""The raw and config tables as Parquet: what great-expectations validates after every landing
(checks/raw_suites.py), on either engine, and what Spark builds the models from.

Layout under the lake folder (settings.lake_path; docs/spark.md):

    raw/<table>/arrival_date=<YYYY-MM-DD>/data.parquet   every raw table, one folder per date
    config/<table>/data.parquet                          the loaded KPI configuration (Spark)
    raw/_exported.json                                   {arrival date: state} of what is there
    models/<schema>.db/<model>/                          Spark's tables (its warehouse directory)
    audit/dbt_builds/                                    Spark's build record

A date is written again when its load changed (a new load_id in raw.load_audit); when only
the verdict of the raw checks changed (contract_passed), just its audit tables are. A date no
longer landed is removed, and every file is written beside its place and renamed into it, so
an interrupted export leaves whole files and the next export finishes the job. Timestamps are
written as UTC instants (TIMESTAMP WITH TIME ZONE), which Spark reads as its TIMESTAMP; JSON
columns as text.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb

RAW_TABLES = ("events", "quarantine", "load_audit", "load_history", "landing_files")
# The tables that carry a date's contract_passed, set after the raw checks read the lake.
AUDIT_TABLES = ("load_audit", "load_history")
CONFIG_TABLES = ("kpi_definitions", "kpi_filters")
PARTITION_COLUMN = "arrival_date"
EXPORTED_FILE = "_exported.json"
DATA_FILE = "data.parquet"


def _columns_sql(con: duckdb.DuckDBPyConnection, schema: str, table: str, skip: str = "") -> str:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    parts = []
    for name, data_type in rows:
        if name == skip:
            continue
        if data_type.startswith("TIMESTAMP"):
            parts.append(f'cast("{name}" as timestamptz) as "{name}"')
        elif data_type == "JSON":
            parts.append(f'cast("{name}" as varchar) as "{name}"')
        else:
            parts.append(f'"{name}"')
    return ", ".join(parts)


def _copy(con: duckdb.DuckDBPyConnection, query: str, params: list, path: Path) -> None:
    """Write `query` to `path` as one Parquet file, replacing it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    con.execute(f"copy ({query}) to '{partial}' (format parquet)", params)
    os.replace(partial, path)


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
        > 0
    )


def raw_partition(lake: Path, table: str, day: dt.date) -> Path:
    """The Parquet file of one raw table's arrival date."""
    return lake / "raw" / table / f"{PARTITION_COLUMN}={day.isoformat()}" / DATA_FILE


def raw_files(lake: Path, table: str) -> list[Path]:
    """Every arrival date's Parquet file of one raw table, in date order."""
    return sorted((lake / "raw" / table).glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}"))


def _read_exported(folder: Path) -> dict[str, dict]:
    """{arrival date: {"load_id", "contract_passed"}} of the dates in the lake; a record that
    cannot be read (or from an older layout) counts as nothing exported."""
    try:
        recorded = json.loads((folder / EXPORTED_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: v for k, v in recorded.items() if isinstance(v, dict) and "load_id" in v}


def _write_exported(folder: Path, exported: dict[str, dict]) -> None:
    partial = folder / f".{EXPORTED_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(dict(sorted(exported.items())), indent=0))
    os.replace(partial, folder / EXPORTED_FILE)


def export_raw(con: duckdb.DuckDBPyConnection, lake: Path) -> list[dt.date]:
    """Bring `lake/raw/` up to date with the warehouse's raw tables; returns the dates written."""
    folder = lake / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    if not _exists(con, "raw", "load_audit"):
        return []
    landed = {
        day.isoformat(): {"load_id": load_id, "contract_passed": passed}
        for day, load_id, passed in con.execute(
            "select arrival_date, load_id, contract_passed from raw.load_audit"
        ).fetchall()
    }
    exported = _read_exported(folder)
    # A partition folder the record does not know (an interrupted first export) is redone.
    on_disk = {
        p.name.split("=", 1)[1]
        for table in RAW_TABLES
        if (folder / table).is_dir()
        for p in (folder / table).glob(f"{PARTITION_COLUMN}=*")
    }
    for day in sorted((set(exported) | on_disk) - set(landed)):
        for table in RAW_TABLES:
            shutil.rmtree(folder / table / f"{PARTITION_COLUMN}={day}", ignore_errors=True)
        exported.pop(day, None)
    written = []
    columns = {t: _columns_sql(con, "raw", t, skip=PARTITION_COLUMN) for t in RAW_TABLES}
    for day, state in sorted(landed.items()):
        before = exported.get(day)
        if before == state:
            continue
        same_load = before is not None and before["load_id"] == state["load_id"]
        for table in AUDIT_TABLES if same_load else RAW_TABLES:
            _copy(
                con,
                f"select {columns[table]} from raw.{table} where {PARTITION_COLUMN} = ?",
                [dt.date.fromisoformat(day)],
                raw_partition(lake, table, dt.date.fromisoformat(day)),
            )
        exported[day] = state
        written.append(dt.date.fromisoformat(day))
        # Recorded per date, so a crash redoes only the date it was writing.
        _write_exported(folder, exported)
    _write_exported(folder, exported)
    return written


def export_config(con: duckdb.DuckDBPyConnection, lake: Path) -> None:
    """Write the loaded KPI configuration to `lake/config/` whole (a few rows). A
    configuration never loaded is written as empty tables: the KPI models build empty
    from either (Spark needs a file to know a table's columns)."""
    from assets.kpi_definitions import DDL

    source = con
    if not all(_exists(con, "config", table) for table in CONFIG_TABLES):
        source = duckdb.connect()
        source.execute(DDL)
    try:
        for table in CONFIG_TABLES:
            query = f"select {_columns_sql(source, 'config', table)} from config.{table}"
            _copy(source, query, [], lake / "config" / table / DATA_FILE)
    finally:
        if source is not con:
            source.close()


# ------------------------------------------------------------- models back from Spark

MODEL_SCHEMAS = ("marts", "reporting")
BUILDS_COLUMNS = (
    ("invocation_id", "varchar"),
    ("started_at", "timestamp"),
    ("finished_at", "timestamp"),
    ("status", "varchar"),
    ("is_whole_project", "boolean"),
    ("is_rebuild", "boolean"),
    ("rebuild_reason", "varchar"),
    ("batch_after_load_id", "bigint"),
    ("batch_to_load_id", "bigint"),
    ("rule_vars", "varchar"),
    ("engine", "varchar"),
)


def _lake_select(folder: Path, columns: tuple[tuple[str, str], ...]) -> str:
    """The Parquet table Spark wrote at `folder`, cast to `columns` (name, DuckDB type)."""
    if not any(folder.glob("*.parquet")):
        nulls = ", ".join(f'cast(null as {kind}) as "{name}"' for name, kind in columns)
        return f"select {nulls} where false"
    casts = ", ".join(f'cast("{name}" as {kind}) as "{name}"' for name, kind in columns)
    return f"select {casts} from read_parquet('{folder}/*.parquet')"


def contracted_models(manifest: dict) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """{(schema, name): ((column, DuckDB type), ...)} of the marts and reporting models."""
    models = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["schema"] in MODEL_SCHEMAS:
            columns = tuple((c["name"], c["data_type"]) for c in node["columns"].values())
            models[(node["schema"], node["alias"])] = columns
    return models


def import_models(con: duckdb.DuckDBPyConnection, lake: Path, manifest: dict) -> int:
    """Replace the warehouse's marts and reporting tables, and Spark's rows of the build
    record, with what Spark wrote to the lake, in one transaction. Each column is cast to the
    type of the model's contract (DuckDB's names), so readers see the same tables whichever
    engine built them. Returns the number of tables imported."""
    models = contracted_models(manifest)
    con.execute("begin")
    try:
        for (schema, name), columns in sorted(models.items()):
            con.execute(f"create schema if not exists {schema}")
            kind = con.execute(
                "select table_type from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, name],
            ).fetchone()
            if kind and kind[0] == "VIEW":
                con.execute(f'drop view "{schema}"."{name}"')
            select = _lake_select(lake / "models" / f"{schema}.db" / name, columns)
            con.execute(f'create or replace table "{schema}"."{name}" as {select}')
        # The warehouse keeps every engine's builds (the `engine` column); Spark's own
        # record in the lake holds only Spark's, and replaces them here.
        builds = _lake_select(lake / "audit" / "dbt_builds", BUILDS_COLUMNS)
        columns = ", ".join(f"{name} {kind}" for name, kind in BUILDS_COLUMNS)
        con.execute("create schema if not exists audit")
        con.execute(f"create table if not exists audit.dbt_builds ({columns})")
        con.execute("alter table audit.dbt_builds add column if not exists engine varchar")
        con.execute("delete from audit.dbt_builds where engine = 'spark'")
        con.execute(f"insert into audit.dbt_builds by name {builds}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return len(models)

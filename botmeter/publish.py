"""Publish the marts to a separate read-only DuckDB file (and Parquet) for analysts and BI tools.

Why a separate file: DuckDB lets one process hold a database file for writing, and a reader
holding the working warehouse open would make the pipeline fail. So BI tools, the report and
the app read `<warehouse stem>_published.duckdb`, which the pipeline replaces after every
successful build:

1. the last build must have succeeded as a whole (audit.dbt_builds, written by dbt: a failed
   blocking dbt test fails the build, so its marts are never published);
2. every table and view of the schemas `marts` and `reporting` is copied (views
   materialized as tables) into `<published>.tmp`, written with DuckDB storage version
   `v1.0.0` (readable by every DuckDB 1.x driver), with `meta.publish_info`: the build it
   was made from and the row count of every table;
3. a write-ahead log left beside the published file by a crashed read-write client is
   deleted (DuckDB would replay it onto the new file), then the new file is `os.replace`d
   over the old one, an atomic rename: a reader sees the old or the new file, never a mix;
4. the Parquet export (`<published dir>/parquet/<table>/data.parquet` and
   `parquet/_publish.json`) is written into a fresh folder and swapped in by rename.

Any failure before step 3 leaves the previous published file untouched; every step can be
redone from the working warehouse, and `published_state` tells a later run what is stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb

from botmeter import settings
from botmeter.progress import Progress

# Storage compatibility version of the published file (see module docstring).
STORAGE_VERSION = "v1.0.0"
PUBLISHED_SCHEMAS = ("marts", "reporting")
META_TABLE = settings.PUBLISH_INFO_TABLE
PARQUET_STAMP = "_publish.json"


class PublishError(RuntimeError):
    """Publishing was refused or failed; the previous published file is unchanged."""


@dataclasses.dataclass(frozen=True)
class PublishResult:
    path: Path
    tables: dict[str, int]  # schema.table -> rows
    storage_version: str
    published_at: dt.datetime
    build_id: str


def _sql_str(value: str | os.PathLike) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect_memory(spill: Path) -> duckdb.DuckDBPyConnection:
    from orchestration.resources import apply_session_settings

    return apply_session_settings(duckdb.connect(), spill_dir=spill)


def last_build(con: duckdb.DuckDBPyConnection) -> tuple[str, str, bool] | None:
    """(invocation id, status, whole project) of the newest dbt build, or None."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'audit' and table_name = 'dbt_builds'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(
        "select invocation_id, status, is_whole_project from audit.dbt_builds "
        "order by started_at desc limit 1"
    ).fetchone()


def publishable_build(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """The invocation id and rule vars of the build whose marts may be published, or
    PublishError."""
    build = last_build(con)
    if build is None:
        raise PublishError("refusing to publish: no dbt build has run on this warehouse yet")
    build_id, status, whole = build
    if status != "success":
        raise PublishError(
            f"refusing to publish: the last dbt build ({build_id}) ended with status "
            f"{status!r} (a failed blocking test or model); the previous published file stays"
        )
    if not whole:
        raise PublishError(
            f"refusing to publish: the last dbt build ({build_id}) built only some models; "
            "build the whole project first"
        )
    rule_vars = con.execute(
        "select rule_vars from audit.dbt_builds where invocation_id = ?", [build_id]
    ).fetchone()[0]
    return build_id, rule_vars


def relations(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    """(schema, name) of the published schemas' tables and views, sorted."""
    marks = ", ".join("?" for _ in PUBLISHED_SCHEMAS)
    return con.execute(
        f"""select table_schema, table_name from information_schema.tables
            where table_catalog = ? and table_schema in ({marks})
            order by table_schema, table_name""",
        [catalog, *PUBLISHED_SCHEMAS],
    ).fetchall()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def publish(warehouse: Path, published: Path | None = None) -> PublishResult:
    """Copy the published schemas of `warehouse` into the published file, atomically."""
    warehouse = Path(warehouse)
    published = Path(published) if published else settings.published_path(warehouse=warehouse)
    published.parent.mkdir(parents=True, exist_ok=True)
    tmp = published.with_name(published.name + ".tmp")
    for leftover in (tmp, _wal(tmp)):
        leftover.unlink(missing_ok=True)

    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    spill = published.parent / ".publish_spill"
    con = _connect_memory(spill)
    tables: dict[str, int] = {}
    try:
        con.execute(f"attach {_sql_str(warehouse)} as src (read_only)")
        build_id, rule_vars = publishable_build(con.cursor().execute("use src"))
        found = relations(con, "src")
        if not any(schema == "marts" for schema, _ in found):
            raise PublishError(f"no tables in schema marts of {warehouse}: nothing to publish")
        con.execute(f"attach {_sql_str(tmp)} as dst (storage_version {_sql_str(STORAGE_VERSION)})")
        for schema in {*(s for s, _ in found), "meta"}:
            con.execute(f"create schema dst.{schema}")
        with Progress("publish", total=len(found), unit="tables") as bar:
            for schema, name in found:
                qualified = f"{schema}.{_ident(name)}"
                con.execute(f"create table dst.{qualified} as select * from src.{qualified}")
                rows = con.execute(f"select count(*) from dst.{qualified}").fetchone()[0]
                tables[f"{schema}.{name}"] = int(rows)
                bar.advance(rows=rows, label=name)
        con.execute(
            f"""create table dst.{META_TABLE} as select
                  cast(? as timestamp) as published_at, ? as build_id, ? as rule_vars,
                  ? as source_warehouse, ? as storage_version, ? as table_rows""",
            [
                published_at,
                build_id,
                rule_vars,
                str(warehouse),
                STORAGE_VERSION,
                json.dumps(tables),
            ],
        )
        con.execute("detach dst")  # checkpoints and closes the new file
        con.execute("detach src")
    except BaseException:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        for leftover in (tmp, _wal(tmp)):
            leftover.unlink(missing_ok=True)
        raise
    con.close()
    shutil.rmtree(spill, ignore_errors=True)

    # A log left by a crashed read-write client would be replayed onto the new file.
    _wal(published).unlink(missing_ok=True)
    os.replace(tmp, published)  # the atomic switch
    return PublishResult(published, tables, STORAGE_VERSION, published_at, build_id)


@dataclasses.dataclass(frozen=True)
class PublishedStamp:
    build_id: str
    published_at: dt.datetime
    table_rows: dict[str, int]
    rule_vars: dict


def read_stamp(published: Path) -> PublishedStamp | None:
    """The stamp of an intact published file, else None: missing, unreadable, with a
    write-ahead log beside it, or changed by a reader since it was published (row counts)."""
    if not published.is_file() or _wal(published).exists():
        return None
    try:
        con = duckdb.connect(str(published), read_only=True)
    except duckdb.Error:
        return None
    try:
        build_id, published_at, table_rows, rule_vars = con.execute(
            f"select build_id, published_at, table_rows, rule_vars from {META_TABLE}"
        ).fetchone()
        expected = json.loads(table_rows)
        for qualified, rows in expected.items():
            schema, name = qualified.split(".", 1)
            actual = con.execute(f"select count(*) from {schema}.{_ident(name)}").fetchone()[0]
            if actual != rows:
                return None
        return PublishedStamp(build_id, published_at, expected, json.loads(rule_vars))
    except (duckdb.Error, TypeError, ValueError):
        return None
    finally:
        con.close()


def export_parquet(published: Path) -> Path:
    """One folder per published table, written fresh beside the live one and swapped in by
    rename, with `_publish.json` naming the published file's build."""
    stamp = read_stamp(published)
    if stamp is None:
        raise PublishError(f"published file {published} is missing or damaged: publish first")
    target = settings.parquet_dir(published)
    fresh = target.with_name(target.name + ".tmp")
    old = target.with_name(target.name + ".old")
    for path in (fresh, old):
        shutil.rmtree(path, ignore_errors=True)
    fresh.mkdir(parents=True)
    from orchestration.resources import apply_session_settings

    con = apply_session_settings(duckdb.connect(str(published), read_only=True))
    try:
        with Progress("parquet", total=len(stamp.table_rows), unit="tables") as bar:
            for qualified, rows in stamp.table_rows.items():
                schema, name = qualified.split(".", 1)
                folder = fresh / name
                folder.mkdir()
                con.execute(
                    f"copy (select * from {schema}.{_ident(name)}) "
                    f"to {_sql_str(folder / 'data.parquet')} (format parquet)"
                )
                bar.advance(rows=rows, label=name)
    finally:
        con.close()
    (fresh / PARQUET_STAMP).write_text(
        json.dumps({"build_id": stamp.build_id, "published_at": stamp.published_at.isoformat()})
    )
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def parquet_build_id(published: Path) -> str | None:
    """The build the Parquet export was made from (None: missing or half-written)."""
    try:
        data = json.loads((settings.parquet_dir(published) / PARQUET_STAMP).read_text())
        return data["build_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None

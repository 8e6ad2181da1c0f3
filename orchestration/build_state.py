"""What the models were last built from, so a run that brings nothing new can skip them.

A dbt build over raw rows it has already processed, with the same project, rewrites every
mart with the rows it already holds: on the 10M-event warehouse an empty arrival day left
every staging view and mart identical (only the intermediate change-set tables, the scratch
of the last run, differ). Skipping that build, the asset checks on its marts and the publish
after it takes a daily run with nothing new from ~45 s to ~15 s at 10M events.

The evidence, kept in the warehouse beside the check ledger (schema `audit`):

- `audit.model_inputs`: per arrival date, the checksum of its `raw.events` rows
  (`raw.load_audit.events_checksum`, taken when the day is landed) that the last successful
  dbt build over that date processed;
- `audit.model_builds`: one row, the last successful whole-project build: the project's
  signature (dbt files, KPI configuration, dbt and DuckDB versions) and when its marts were
  published.

The models are skipped only when every arrival date with rows has exactly the checksum the
models last processed, none is unknown (a warehouse from before the checksum), the project
signature is unchanged, and the last build was published and its file is still there.
Anything else, and any full refresh or partial selection, builds as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
from pathlib import Path

import duckdb
import yaml

from checks.core import table_exists
from orchestration.dbt_project import DBT_PROFILES_DIR, DBT_PROJECT_DIR

INPUTS_TABLE = "audit.model_inputs"
BUILDS_TABLE = "audit.model_builds"
# dbt_project.yml keys naming folders whose files change what `dbt build` writes or tests.
_PROJECT_PATH_KEYS = ("model-paths", "macro-paths", "seed-paths", "test-paths", "snapshot-paths")
_VERSIONED_PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb")
# The configuration tables the KPI models read (loaded from the KPI file before each build).
_CONFIG_TABLES = ("config.kpi_definitions", "config.kpi_filters")

_DDL = f"""
create schema if not exists audit;
create table if not exists {INPUTS_TABLE} (
    arrival_date date primary key,
    events_checksum varchar not null,
    built_at timestamp not null
);
create table if not exists {BUILDS_TABLE} (
    project_signature varchar not null,
    run_id varchar,
    built_at timestamp not null,
    published_at timestamp
);
"""


def _project_files(project_dir: Path) -> dict[str, Path]:
    """dbt_project.yml, profiles.yml and every file of the project's dbt folders, by name."""
    config = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    files = {"dbt_project.yml": project_dir / "dbt_project.yml"}
    files["profiles.yml"] = DBT_PROFILES_DIR / "profiles.yml"
    for key in _PROJECT_PATH_KEYS:
        for folder in config.get(key) or []:
            for path in (project_dir / folder).rglob("*"):
                if path.is_file():
                    files[path.relative_to(project_dir).as_posix()] = path
    return files


def project_signature(con: duckdb.DuckDBPyConnection, project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A digest of everything besides raw rows that decides what the models hold."""
    digest = hashlib.sha256()
    for name, path in sorted(_project_files(project_dir).items()):
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes())
    for package in _VERSIONED_PACKAGES:
        digest.update(f"{package}=={importlib.metadata.version(package)}\0".encode())
    for table in _CONFIG_TABLES:
        if table_exists(con, table):
            rows, total = con.execute(
                f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {table} as t"
            ).fetchone()
            digest.update(f"{table}:{rows}:{total}\0".encode())
    return digest.hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _landed(con: duckdb.DuckDBPyConnection) -> dict[dt.date, str | None]:
    """Checksums of the arrival dates that hold raw rows (None: landed before checksums)."""
    if not table_exists(con, "raw.load_audit"):
        return {}
    rows = con.execute(
        "select arrival_date, events_checksum from raw.load_audit where accepted > 0"
    ).fetchall()
    return dict(rows)


def why_build(con: duckdb.DuckDBPyConnection, signature: str, published: Path) -> str | None:
    """Why the models must be built, or None when the last build already did this work."""
    if not (table_exists(con, INPUTS_TABLE) and table_exists(con, BUILDS_TABLE)):
        return "no whole-project build recorded in this warehouse yet"
    last = con.execute(f"select project_signature, published_at from {BUILDS_TABLE}").fetchall()
    if len(last) != 1:
        return "no whole-project build recorded in this warehouse yet"
    last_signature, published_at = last[0]
    if last_signature != signature:
        return "the dbt project, the KPI configuration or a tool version changed"
    if published_at is None or not published.exists():
        return "the last build's marts were not published"
    landed = _landed(con)
    unknown = sorted(d for d, checksum in landed.items() if checksum is None)
    if unknown:
        return f"{len(unknown)} arrival date(s) landed before checksums existed, e.g. {unknown[0]}"
    built = dict(
        con.execute(f"select arrival_date, events_checksum from {INPUTS_TABLE}").fetchall()
    )
    changed = sorted(d for d in landed.keys() | built.keys() if landed.get(d) != built.get(d))
    if changed:
        return f"raw rows of {len(changed)} arrival date(s) not yet built, e.g. {changed[0]}"
    return None


def record_build(
    con: duckdb.DuckDBPyConnection,
    signature: str,
    window: tuple[dt.date, dt.date] | None,
    run_id: str | None,
) -> None:
    """After a successful whole-project build: the dates it processed (window None: every
    date, a full refresh) now hold what it built from; its marts are not yet published."""
    con.execute(_DDL)
    now = _now()
    con.execute("begin transaction")
    try:
        if window is None:
            con.execute(f"delete from {INPUTS_TABLE}")
        else:
            con.execute(f"delete from {INPUTS_TABLE} where arrival_date between ? and ?", window)
        built = [
            [day, checksum, now]
            for day, checksum in sorted(_landed(con).items())
            if checksum is not None and (window is None or window[0] <= day <= window[1])
        ]
        if built:
            con.executemany(f"insert into {INPUTS_TABLE} values (?, ?, ?)", built)
        con.execute(f"delete from {BUILDS_TABLE}")
        con.execute(f"insert into {BUILDS_TABLE} values (?, ?, ?, null)", [signature, run_id, now])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def record_published(con: duckdb.DuckDBPyConnection) -> None:
    """The marts of the last recorded build are in the published file."""
    if table_exists(con, BUILDS_TABLE):
        con.execute(f"update {BUILDS_TABLE} set published_at = ?", [_now()])

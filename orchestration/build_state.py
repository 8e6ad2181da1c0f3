"""What the models were last built from, so a run that brings nothing new can skip them.

A dbt build over raw rows it has already processed, with the same project, rewrites every
mart with the rows it already holds: on the 10M-event warehouse an empty arrival day left
every staging view and mart identical (only the intermediate change-set tables, the scratch
of the last run, differ). Skipping that build, the asset checks on its marts and the publish
after it takes a daily run with nothing new from ~45 s to ~15 s at 10M events.

The evidence, kept in the warehouse beside the check ledger (schema `audit`):

- `audit.model_inputs`: per arrival date, the checksum of its `raw.events` rows
  (`raw.load_audit.events_checksum`, taken when the day is landed) that the last successful
  whole-project dbt build over that date read;
- `audit.model_builds`: at most one row, the last successful whole-project build: the
  signature of the code and configuration it ran with, and when its marts were published
  (the published file's own `meta.publish_info` stamp) and the dashboard written. Every dbt
  invocation deletes the row before it starts, so a failed or partial build is never taken
  for the last good one.

The models are skipped only when every arrival date with rows has exactly the checksum the
models last read, none is unknown (landed by a botmeter without checksums), the signature is
unchanged, and the published file and the dashboard are the ones made from that build.
Anything else, a full refresh and a partial selection build as before.

The other way round, a whole-project build becomes a full rebuild (dbt `--full-refresh`)
when an arrival date lost or changed rows since the models read them (`replaced_dates`):
incremental models only add.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path

import duckdb
import yaml

from checks.core import table_exists
from checks.settings import checks_config_path
from orchestration.dbt_project import DBT_PROFILES_DIR, DBT_PROJECT_DIR
from orchestration.settings import PUBLISH_INFO_TABLE, kpi_config_path

INPUTS_TABLE = "audit.model_inputs"
BUILDS_TABLE = "audit.model_builds"
# dbt_project.yml keys naming folders whose files change what `dbt build` writes or tests.
_PROJECT_PATH_KEYS = ("model-paths", "macro-paths", "seed-paths", "test-paths", "snapshot-paths")
# botmeter's own code: landing, checks, publish and dashboard decide what a run leaves too.
_PACKAGES = ("assets", "checks", "orchestration")
_VERSIONED_DISTRIBUTIONS = ("dbt-core", "dbt-duckdb", "duckdb")

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
    published_at timestamp,
    dashboard_at timestamp
);
"""


def _files_under(folder: Path, pattern: str = "*") -> list[Path]:
    return [
        p
        for p in folder.rglob(pattern)
        if p.is_file()
        and "__pycache__" not in p.parts
        and not p.name.startswith(".")
        and not p.name.endswith((".pyc", "~"))
    ]


def _signed_files(project_dir: Path) -> dict[str, Path]:
    """Every file a run's result depends on besides the raw rows, by a stable name."""
    config = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    files = {
        "dbt_project.yml": project_dir / "dbt_project.yml",
        "profiles.yml": DBT_PROFILES_DIR / "profiles.yml",
        "config:kpis": kpi_config_path(),
        "config:checks": checks_config_path(),
    }
    for key in _PROJECT_PATH_KEYS:
        for folder in config.get(key) or []:
            for path in _files_under(project_dir / folder):
                files[path.relative_to(project_dir).as_posix()] = path
    for package in _PACKAGES:
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            for path in _files_under(Path(root), "*.py"):
                files[f"{package}:{path.relative_to(root).as_posix()}"] = path
    return files


def project_signature(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A digest of the dbt project, botmeter's code, its configuration files and the versions
    of dbt and DuckDB: any change builds once, whatever it was."""
    digest = hashlib.sha256()
    for name, path in sorted(_signed_files(project_dir).items()):
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    for distribution in _VERSIONED_DISTRIBUTIONS:
        digest.update(f"{distribution}=={importlib.metadata.version(distribution)}\0".encode())
    return digest.hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def landed_checksums(con: duckdb.DuckDBPyConnection) -> dict[dt.date, str | None]:
    """Checksums of the arrival dates that hold raw rows (None: landed before checksums)."""
    if not table_exists(con, "raw.load_audit"):
        return {}
    rows = con.execute(
        "select arrival_date, events_checksum from raw.load_audit where accepted > 0"
    ).fetchall()
    return dict(rows)


def _published_stamp(published: Path) -> dt.datetime | None:
    try:
        con = duckdb.connect(str(published), read_only=True)
    except duckdb.Error:
        return None
    try:
        query = f"select max(published_at) from {PUBLISH_INFO_TABLE}"
        return con.execute(query).fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def why_build(
    con: duckdb.DuckDBPyConnection, signature: str, published: Path, dashboard: Path
) -> str | None:
    """Why the models must be built, or None when the last build already did this work."""
    last = []
    if table_exists(con, INPUTS_TABLE) and table_exists(con, BUILDS_TABLE):
        last = con.execute(
            f"select project_signature, published_at, dashboard_at from {BUILDS_TABLE}"
        ).fetchall()
    if len(last) != 1:
        return "no complete whole-project build recorded in this warehouse"
    last_signature, published_at, dashboard_at = last[0]
    if last_signature != signature:
        return "the dbt project, botmeter's code or configuration, or a tool version changed"
    if published_at is None or _published_stamp(published) != published_at:
        return "the published file is not the one made from the last build"
    if dashboard_at is None or not dashboard.exists():
        return "the dashboard of the last build was not written"
    landed = landed_checksums(con)
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


def replaced_dates(con: duckdb.DuckDBPyConnection) -> dict[dt.date, int]:
    """Arrival dates whose models need a full rebuild, with their count of replaced rows.

    The incremental models re-decide only the events a run brings, so an event that is gone
    or changed would linger. Such dates are the ones re-landed with rows removed or changed
    since the last full rebuild (`raw.load_audit.events_replaced`), and the ones a build read
    that hold no rows any more (a raw-only full refresh deleted them; count 0).
    """
    replaced: dict[dt.date, int] = {}
    if not table_exists(con, "raw.load_audit"):
        return replaced
    replaced.update(
        con.execute(
            "select arrival_date, events_replaced from raw.load_audit where events_replaced > 0"
        ).fetchall()
    )
    if table_exists(con, INPUTS_TABLE):
        gone = con.execute(
            f"""select arrival_date from {INPUTS_TABLE}
                where arrival_date not in (
                    select arrival_date from raw.load_audit where accepted > 0
                )"""
        ).fetchall()
        for (day,) in gone:
            replaced.setdefault(day, 0)
    return dict(sorted(replaced.items()))


def clear_replaced(con: duckdb.DuckDBPyConnection, replaced: dict[dt.date, int]) -> None:
    """After a successful full rebuild: the counts it accounted for (`replaced`, taken before
    dbt started) are cleared; a date re-landed meanwhile keeps its higher count."""
    for day, count in replaced.items():
        if count:
            con.execute(
                "update raw.load_audit set events_replaced = 0 "
                "where arrival_date = ? and events_replaced = ?",
                [day, count],
            )


def forget_last_build(con: duckdb.DuckDBPyConnection) -> None:
    """The next run builds the models whatever it lands."""
    con.execute(_DDL)
    con.execute(f"delete from {BUILDS_TABLE}")


def start_build(con: duckdb.DuckDBPyConnection) -> dict[dt.date, str | None]:
    """Before any dbt invocation: forget the last build (the marts are about to change) and
    return the checksums this build will read, taken before dbt starts."""
    forget_last_build(con)
    return landed_checksums(con)


def record_build(
    con: duckdb.DuckDBPyConnection,
    signature: str,
    window: tuple[dt.date, dt.date] | None,
    run_id: str | None,
    landed: dict[dt.date, str | None],
) -> None:
    """After a successful whole-project build: the dates it processed (window None: every
    date, a full refresh) now hold the rows it read (`landed`, from `start_build`)."""
    con.execute(_DDL)
    now = _now()
    built = [
        [day, checksum, now]
        for day, checksum in sorted(landed.items())
        if checksum is not None and (window is None or window[0] <= day <= window[1])
    ]
    con.execute("begin transaction")
    try:
        if window is None:
            con.execute(f"delete from {INPUTS_TABLE}")
        else:
            con.execute(f"delete from {INPUTS_TABLE} where arrival_date between ? and ?", window)
        if built:
            con.executemany(f"insert into {INPUTS_TABLE} values (?, ?, ?)", built)
        con.execute(f"delete from {BUILDS_TABLE}")
        con.execute(
            f"insert into {BUILDS_TABLE} values (?, ?, ?, null, null)", [signature, run_id, now]
        )
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def record_published(con: duckdb.DuckDBPyConnection, published_at: dt.datetime) -> None:
    """The marts of the last recorded build are in the published file stamped `published_at`."""
    if table_exists(con, BUILDS_TABLE):
        con.execute(
            f"update {BUILDS_TABLE} set published_at = ?, dashboard_at = null", [published_at]
        )


def record_dashboard(con: duckdb.DuckDBPyConnection) -> None:
    """The dashboard now shows the published marts of the last recorded build."""
    if table_exists(con, BUILDS_TABLE):
        con.execute(
            f"update {BUILDS_TABLE} set dashboard_at = ? where published_at is not null",
            [_now()],
        )

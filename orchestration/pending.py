"""What is pending, decided before a run is launched: the same answer for `botmeter run`, the
daily schedule and the landing sensor, because all three ask this module.

Nothing here keeps state. Each fact is read where the step that made it recorded it, in the
same transaction as its data where possible:

- landing: each arrival folder's content fingerprint against `raw.load_audit` (written with
  the rows), the contract the date was landed under, and whether its raw checks passed;
- models: loads in `raw.load_history` after the last successful whole build, a build that
  did not finish, the rule vars of the last build (`audit.dbt_builds`, written by dbt's own
  hooks), the KPI configuration loaded in the warehouse, and dbt models whose code version
  differs from the one Dagster recorded at their last materialization;
- serving: the build the published file, the Parquet export and the dashboard were made from
  (each carries its build's id; a published file changed by a reader counts as stale).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb

from assets.landing import (
    FileStat,
    LandingError,
    contract_fingerprint,
    folder_fingerprint,
    list_arrival_dates,
    partition_folder,
    scan_folder,
)
from botmeter import publish, settings
from botmeter.report.html import dashboard_build_id

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


@dataclasses.dataclass
class Pending:
    """What a run must do, with the reason for each part (empty: nothing)."""

    land: list[dt.date] = dataclasses.field(default_factory=list)
    land_reasons: dict[dt.date, str] = dataclasses.field(default_factory=dict)
    # New dates whose folders hold no event file: landing them records the folder (and its
    # skipped entries) but cannot change a raw row, so it needs no build.
    rowless: set[dt.date] = dataclasses.field(default_factory=set)
    ignored: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    build: list[str] = dataclasses.field(default_factory=list)
    full_refresh: bool = False
    publish: str | None = None
    parquet: str | None = None
    dashboard: str | None = None

    @property
    def nothing(self) -> bool:
        return not (self.land or self.build or self.publish or self.parquet or self.dashboard)

    def land_ranges(self) -> list[tuple[dt.date, dt.date]]:
        """The dates to land as contiguous ranges (one run each)."""
        ranges: list[list[dt.date]] = []
        for day in sorted(self.land):
            if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
                ranges[-1][1] = day
            else:
                ranges.append([day, day])
        return [(a, b) for a, b in ranges]

    def may_change_rows(self, first: dt.date, last: dt.date) -> bool:
        return any(d not in self.rowless for d in self.land if first <= d <= last)

    def describe(self) -> list[str]:
        lines = []
        if self.land:
            shown = ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in self.land_ranges()[:4])
            reasons = sorted(set(self.land_reasons.values()))
            lines.append(
                f"to land: {len(self.land)} arrival date(s) {shown} ({'; '.join(reasons)})"
            )
        if self.build:
            lines.append(f"to build: {'; '.join(self.build)}")
        for name, reason in (
            ("to publish", self.publish),
            ("to export as Parquet", self.parquet),
            ("to draw the dashboard", self.dashboard),
        ):
            if reason:
                lines.append(f"{name}: {reason}")
        return lines


def _landed(con: duckdb.DuckDBPyConnection) -> dict[dt.date, tuple]:
    """Per landed date: (files fingerprint, contract fingerprint, contract check passed)."""
    try:
        rows = con.execute(
            "select arrival_date, files_fingerprint, contract_fingerprint, contract_passed "
            "from raw.load_audit"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    except duckdb.BinderException:  # a raw layer of an older botmeter: land everything
        return {}
    return {r[0]: r[1:] for r in rows}


def known_files(con: duckdb.DuckDBPyConnection, day: dt.date) -> dict[str, tuple[FileStat, str]]:
    """name -> (stat, sha-256) of the day's landed files: what a folder is compared with."""
    rows = con.execute(
        "select file_name, size_bytes, mtime_ns, ctime_ns, inode, content_sha256 "
        "from raw.landing_files where arrival_date = ? and is_landed",
        [day],
    ).fetchall()
    return {name: (FileStat(*stat), sha) for name, *stat, sha in rows}


def _landing(
    pending: Pending,
    con: duckdb.DuckDBPyConnection | None,
    landing: Path,
    start: dt.date | None,
    end: dt.date | None,
    full_refresh: bool,
) -> None:
    rules, checks = settings.load_rules(), settings.load_check_settings()
    folders = list_arrival_dates(landing, rules)
    pending.ignored = folders.ignored
    if full_refresh:
        if folders.dates:
            first, last = folders.dates[0], folders.dates[-1]
            days = (last - first).days + 1
            pending.land = [first + dt.timedelta(days=i) for i in range(days)]
            pending.land_reasons = dict.fromkeys(pending.land, "full refresh")
        return
    if start or end:
        if start and end and start > end:
            raise LandingError(f"--start {start} is after --end {end}")
        first = start or (folders.dates[0] if folders.dates else end)
        last = end or (folders.dates[-1] if folders.dates else start)
        days = (last - first).days + 1 if first and last else 0
        pending.land = [first + dt.timedelta(days=i) for i in range(max(days, 0))]
        pending.land_reasons = dict.fromkeys(pending.land, "asked (--start/--end)")
        return
    landed = _landed(con) if con is not None else {}
    contract = contract_fingerprint(rules, checks)
    for day in folders.dates:
        entries = scan_folder(partition_folder(landing, day))
        if day not in landed:
            reason = "new"
            if not any(entry.is_event_file for entry in entries):
                pending.rowless.add(day)
        else:
            files, landed_contract, passed = landed[day]
            known = known_files(con, day)
            if folder_fingerprint(entries, known) != files:
                reason = "files changed"
            elif landed_contract != contract:
                reason = "landed under other rules or check settings"
            elif passed is not True:
                reason = "its raw checks did not pass"
            else:
                continue
        pending.land.append(day)
        pending.land_reasons[day] = reason


def _last_builds(con: duckdb.DuckDBPyConnection) -> tuple[tuple | None, tuple | None]:
    """(newest build row, newest successful whole build row) of audit.dbt_builds."""
    try:
        newest = con.execute(
            "select invocation_id, status, is_whole_project from audit.dbt_builds "
            "order by started_at desc limit 1"
        ).fetchone()
        success = con.execute(
            "select invocation_id, batch_to_load_id, rule_vars from audit.dbt_builds "
            "where status = 'success' and is_whole_project order by started_at desc limit 1"
        ).fetchone()
    except duckdb.CatalogException:
        return None, None
    return newest, success


def _models(
    pending: Pending,
    con: duckdb.DuckDBPyConnection | None,
    changed_models: list[str],
    full_refresh: bool,
) -> None:
    if full_refresh:
        pending.build.append("full refresh")
        pending.full_refresh = True
        return
    if con is None:
        if pending.land:
            pending.build.append("nothing built yet")
        return
    newest, success = _last_builds(con)
    if success is None:
        has_loads = bool(pending.land) or _count(con, "select count(*) from raw.load_history")
        if has_loads:
            pending.build.append("no build of the whole project has succeeded yet")
        return
    if newest[0] != success[0]:
        pending.build.append(f"the last build did not finish ({newest[1]})")
    unbuilt = _count(
        con,
        "select count(*) from raw.load_history "
        "where load_id > ? and (has_changed_rows or events_replaced > 0)",
        [success[1]],
    )
    if unbuilt:
        pending.build.append(f"{unbuilt} landing(s) not built yet")
    rules = settings.load_rules().rule_values()
    if json.loads(success[2]) != rules:
        pending.build.append("a rule var in dbt_project.yml changed (every model is rebuilt)")
    from assets.kpi_definitions import loaded_config_hash

    if loaded_config_hash(con) != settings.load_kpi_config().config_hash:
        pending.build.append("config/kpis.yml changed")
    if changed_models:
        shown = ", ".join(changed_models[:3]) + (" ..." if len(changed_models) > 3 else "")
        pending.build.append(f"dbt models changed since built: {shown}")


def _count(con, sql: str, params: list | None = None) -> int:
    try:
        return int(con.execute(sql, params or []).fetchone()[0])
    except duckdb.CatalogException:
        return 0


def _serving(pending: Pending, con: duckdb.DuckDBPyConnection | None, warehouse: Path) -> None:
    if con is None or pending.build:
        return  # the build will publish
    published = settings.published_path(warehouse=warehouse)
    newest, success = _last_builds(con)
    if success is None or newest[0] != success[0]:
        return
    stamp = publish.read_stamp(published)
    if stamp is None or stamp.build_id != success[0]:
        pending.publish = (
            "the published file is missing, damaged or changed by a reader"
            if stamp is None
            else "the published file is older than the last build"
        )
        return
    if publish.parquet_build_id(published) != stamp.build_id:
        pending.parquet = "the Parquet export is not the published file's"
    if dashboard_build_id(settings.dashboard_path(published)) != stamp.build_id:
        pending.dashboard = "the dashboard is not the published file's"


def find_pending(
    warehouse: Path,
    landing: Path,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    full_refresh: bool = False,
    changed_models: list[str] | None = None,
) -> Pending:
    """What a run must do now. The caller holds the warehouse's run lock."""
    from orchestration.resources import connect

    pending = Pending()
    con = connect(warehouse, read_only=True) if warehouse.exists() else None
    try:
        _landing(pending, con, landing, start, end, full_refresh)
        _models(pending, con, changed_models or [], full_refresh)
        _serving(pending, con, warehouse)
    finally:
        if con is not None:
            con.close()
    return pending


def changed_dbt_models(instance: dg.DagsterInstance, assets_def: dg.AssetsDefinition) -> list[str]:
    """dbt models whose code version (dagster-dbt: a hash of the model's SQL) differs from the
    one recorded at their last materialization in this Dagster instance."""
    current = assets_def.code_versions_by_key
    recorded = instance.get_latest_materialization_code_versions(list(current))
    return sorted(
        key.to_user_string()
        for key, version in current.items()
        if version is not None and recorded.get(key) not in (None, version)
    )

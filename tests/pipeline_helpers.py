"""Shared test plumbing: write landing folders, land them, run dbt in-process, compare tables."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb
import pandas as pd

from assets.landing import land_partition
from botmeter.settings import PROJECT_ROOT, WAREHOUSE_ENV

SESSION_MARTS = (
    "fct_sessions",
    "bridge_session_conversations",
    "bridge_session_channels",
    "fct_tickets",
    "dim_conversations",
    "agg_sessions_daily",
    "agg_sessions_daily_total",
    "agg_sessions_monthly",
    "agg_sessions_monthly_total",
    "rpt_session_usage",
)


def event(event_id: str, event_type: str, occurred_at: str, **fields) -> dict:
    """A valid raw event with defaults for the required fields."""
    base = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "account_id": "acct_1",
        "bot_id": "bot_1",
        "channel": "web",
        "customer_id": "cus_1",
    }
    if event_type in {"message", "conversation_started", "conversation_closed"}:
        base.setdefault("conversation_id", "conv_1")
        base.setdefault("actor", "user")
    base.update(fields)
    return base


def write_landing(
    landing: Path, lines_by_arrival: Mapping[dt.date, Iterable[dict | str]], gz: bool = False
) -> None:
    """Write one file per arrival date; dicts become JSON lines, strings are written as-is."""
    for day, lines in lines_by_arrival.items():
        folder = landing / "events" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
        name = "part-000.jsonl" + (".gz" if gz else "")
        data = gzip.compress(text.encode()) if gz else text.encode()
        (folder / name).write_bytes(data)


def land(warehouse: Path, landing: Path, dates: Iterable[dt.date]) -> list:
    con = duckdb.connect(str(warehouse))
    try:
        return [land_partition(con, landing, d) for d in dates]
    finally:
        con.close()


def dbt(warehouse: Path, *args: str, check: bool = True):
    """Run dbt in this process (no interpreter start-up per call) against `warehouse`."""
    from dbt.cli.main import dbtRunner

    previous = os.environ.get(WAREHOUSE_ENV)
    os.environ[WAREHOUSE_ENV] = str(warehouse)
    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)
    try:
        result = dbtRunner().invoke(
            [
                *args,
                "--profiles-dir",
                str(PROJECT_ROOT / "dbt_project"),
                "--quiet",
                "--target-path",
                str(warehouse.parent / "dbt_target"),
            ]
        )
    finally:
        _release_dbt_duckdb()
        os.chdir(cwd)
        if previous is None:
            os.environ.pop(WAREHOUSE_ENV, None)
        else:
            os.environ[WAREHOUSE_ENV] = previous
    if check and not result.success:
        failures = []
        for r in getattr(result.result, "results", None) or []:
            if str(r.status) not in {"success", "pass"}:
                failures.append(f"{r.node.name}: {r.status}: {r.message}")
        raise AssertionError(f"dbt {' '.join(args)} failed: {result.exception} {failures}")
    return result


def _release_dbt_duckdb() -> None:
    """dbt-duckdb caches its DuckDB connection per process; close it so the file is free."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def build_incremental(warehouse: Path, landing: Path, days: Iterable[dt.date]) -> None:
    """Land each arrival day and build every model, one daily run at a time (a build
    processes the loads since the last one: dbt_project/macros/build_record.sql). `dbt run`:
    the models without their tests, which other tests exercise."""
    for day in days:
        land(warehouse, landing, [day])
        dbt(warehouse, "run")


def build_full(warehouse: Path, landing: Path, days: Iterable[dt.date]) -> None:
    land(warehouse, landing, days)
    dbt(warehouse, "run", "--full-refresh")


def schema_of(table: str) -> str:
    """The schema dbt_project.yml gives a model of the marts or reporting folder."""
    return "reporting" if table.startswith("rpt_") else "marts"


def read_table(warehouse: Path, table: str, schema: str | None = None) -> pd.DataFrame:
    schema = schema or schema_of(table)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        df = con.execute(f"select * from {schema}.{table}").df()
    finally:
        con.close()
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def table_differences(left: Path, right: Path, table: str, schema: str | None = None) -> str:
    """Rows in one warehouse's table and not the other's (multiset), as text; '' if equal."""
    schema = schema or schema_of(table)
    con = duckdb.connect()
    try:
        con.execute(f"attach '{left}' as l (read_only)")
        con.execute(f"attach '{right}' as r (read_only)")
        only_left = con.execute(
            f"select * from l.{schema}.{table} except all select * from r.{schema}.{table}"
        ).df()
        only_right = con.execute(
            f"select * from r.{schema}.{table} except all select * from l.{schema}.{table}"
        ).df()
    finally:
        con.close()
    if only_left.empty and only_right.empty:
        return ""
    return f"{table}: only in {left}:\n{only_left}\nonly in {right}:\n{only_right}"


def staged_events(warehouse: Path) -> list[dict]:
    df = read_table(warehouse, "stg_botmeter__events", schema="staging")
    return df.drop(columns=["properties"]).to_dict("records")

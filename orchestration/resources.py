"""Dagster resources: where the warehouse and the landing folder are."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import settings

MEMORY_LIMIT_ENV = "BOTMETER_MEMORY_LIMIT"
# DuckDB's buffer limit in every process botmeter starts (dbt's default is in profiles.yml).
# 2.5GB was measured at 10M events: slower (full build 324 s, int_sessions spilling) and the
# largest process still peaked at 5.2 GB, so the limit is not what sets the peak
# (benchmarks/FINDINGS.md, section A).
DEFAULT_MEMORY_LIMIT = "4GB"


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse file (DuckDB allows one writing process)."""


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, failing fast with a clear message when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseLockedError(
                f"warehouse {path} is in use by another process (another botmeter run, "
                f"dagster or a SQL client holding it open); botmeter does not wait: retry "
                f"when it is done, and point BI tools at the published copy instead"
            ) from exc
        raise
    return apply_session_settings(con)


def apply_session_settings(
    con: duckdb.DuckDBPyConnection, spill_dir: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """UTC and botmeter's memory limit ($BOTMETER_MEMORY_LIMIT, default 4GB) on any DuckDB
    connection botmeter opens, so big runs spill to disk instead of taking 80% of RAM.
    An in-memory connection needs `spill_dir` to have somewhere to spill."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set memory_limit = ?", [os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)])
    if spill_dir is not None:
        con.execute("set temp_directory = ?", [str(spill_dir)])
    return con


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse and the landing folder. Empty fields fall back to the
    BOTMETER_WAREHOUSE / BOTMETER_LANDING environment variables, read at run time."""

    warehouse_path: str = ""
    landing_path: str = ""

    def resolved_warehouse(self) -> Path:
        return settings.warehouse_path(self.warehouse_path or None)

    def resolved_landing(self) -> Path:
        return settings.landing_path(self.landing_path or None)

    @contextlib.contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.resolved_warehouse(), read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """dbt reads the warehouse path from BOTMETER_WAREHOUSE (see dbt_project/profiles.yml)."""
        previous = os.environ.get(settings.WAREHOUSE_ENV)
        os.environ[settings.WAREHOUSE_ENV] = str(self.resolved_warehouse())
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(settings.WAREHOUSE_ENV, None)
            else:
                os.environ[settings.WAREHOUSE_ENV] = previous

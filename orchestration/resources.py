"""Dagster resources: where the warehouse and the landing folder are."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import settings
from orchestration.memory import (
    freeze_long_lived_objects,
    release_freed_memory,
    thaw_long_lived_objects,
)
from orchestration.quiet_skips import restore_check_warnings

MEMORY_LIMIT_ENV = "BOTMETER_MEMORY_LIMIT"
# The memory budget of each process botmeter starts: dbt's DuckDB gets all of it (its default
# is in profiles.yml; a test keeps the two equal). botmeter's own process also holds Dagster,
# landing batches and the GX check frames, so its DuckDB connections get half of it
# (own_memory_limit). At 10M events 3GB keeps every process, and the two together, under
# 4 GiB; the dbt build takes 81 s at 3GB against 77 s at 4GB (benchmarks/FINDINGS.md, A).
DEFAULT_MEMORY_LIMIT = "3GB"

_UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def memory_limit() -> str:
    """The per-process budget: $BOTMETER_MEMORY_LIMIT, read at run time, or the default."""
    return os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT


def parse_memory_size(text: str) -> int:
    """Bytes of a DuckDB-style size ('4GB', '3.5 GB', '4096MiB'; KB..TB are powers of 1000,
    KiB..TiB powers of 1024, as in DuckDB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or (unit and unit not in _UNITS):
        raise ValueError(
            f"{MEMORY_LIMIT_ENV}={text!r} is not a memory size: use e.g. 4GB, 3.5GB or 4096MiB"
        )
    return int(float(match.group(1)) * _UNITS[unit or "b"])


def own_memory_limit() -> str:
    """DuckDB's limit inside botmeter's own process: half the budget, at least 256 MB."""
    half = max(parse_memory_size(memory_limit()) // 2, 256 * 10**6)
    return f"{half // 10**6}MB"


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
    """UTC and botmeter's memory limit (`own_memory_limit`) on any DuckDB connection botmeter
    opens, so big runs spill to disk instead of taking 80% of RAM.
    An in-memory connection needs `spill_dir` to have somewhere to spill."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set memory_limit = ?", [own_memory_limit()])
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

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Once per run, before its first step: every module the steps use is imported by
        now (great-expectations too), so freeze them out of the garbage collector's scans;
        `connection` collects after every step (see orchestration/memory.py)."""
        import great_expectations  # noqa: F401 - the check steps use it

        freeze_long_lived_objects()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        thaw_long_lived_objects()
        restore_check_warnings()  # a skipped build silenced them for this run only

    @contextlib.contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.resolved_warehouse(), read_only=read_only)
        try:
            yield con
        finally:
            con.close()
            release_freed_memory()  # pages DuckDB and the step freed, before the next step

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

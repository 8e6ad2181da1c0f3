"""Dagster resources: the warehouse (and the landing folder), and the one-run-at-a-time lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from botmeter import settings


class WarehouseLockedError(RuntimeError):
    """Another run, or another process, holds the warehouse."""


class WarehouseCorruptError(RuntimeError):
    """The warehouse file cannot be read as a DuckDB database."""


def _lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextlib.contextmanager
def run_lock(warehouse: Path, wait_seconds: float = 0) -> Iterator[None]:
    """Hold `<warehouse>.lock` for a whole run: a second botmeter run on the same warehouse
    fails with one line instead of racing the first for DuckDB's file lock between steps
    (where a reader slipping in made the first run fail). `wait_seconds` lets a run wait
    out a sensor or a CLI that holds the lock briefly to read what is pending. The lock is
    the kernel's (flock), so a killed run never leaves it held."""
    try:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        handle = open(_lock_path(warehouse), "a+")
    except OSError as exc:
        raise WarehouseLockedError(
            f"cannot write beside the warehouse {warehouse}: {exc.strerror or exc}"
        ) from None
    with handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"another botmeter run is using the warehouse {warehouse}: wait for "
                        "it to finish (this run changed nothing)"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with botmeter's session settings; one-line errors for the ways a
    user can get the path wrong."""
    if path.is_dir():
        raise WarehouseCorruptError(f"warehouse {path} is a directory, not a DuckDB file")
    if read_only and not path.exists():
        raise FileNotFoundError(f"warehouse {path} does not exist yet")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise WarehouseLockedError(
                f"warehouse {path} is in use by another process (a SQL client or BI tool "
                "holding it open); point BI tools at the published copy instead"
            ) from None
        if "read-only" in text.lower() or "permission" in text.lower():
            raise WarehouseLockedError(f"warehouse {path} cannot be written: {text}") from None
        raise WarehouseCorruptError(
            f"warehouse {path} is corrupted or not a DuckDB database ({text.splitlines()[0]}); "
            "restore it from a backup or rebuild it with `botmeter run --full-refresh`"
        ) from None
    except (duckdb.SerializationException, duckdb.InternalException, duckdb.Error) as exc:
        raise WarehouseCorruptError(
            f"warehouse {path} is corrupted (checksum mismatch or not a DuckDB file): "
            f"{str(exc).splitlines()[0]}; restore it from a backup or rebuild it with "
            "`botmeter run --full-refresh` from the landing folder"
        ) from None
    except PermissionError as exc:
        raise WarehouseLockedError(f"warehouse {path} cannot be written: {exc}") from None
    return apply_session_settings(con)


def apply_session_settings(
    con: duckdb.DuckDBPyConnection, spill_dir: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """UTC and botmeter's memory limit (half the per-process budget) on any DuckDB
    connection botmeter opens, so big runs spill to disk instead of taking the machine.
    An in-memory connection needs `spill_dir` to have somewhere to spill."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set memory_limit = ?", [settings.own_memory_limit()])
    if spill_dir is not None:
        con.execute("set temp_directory = ?", [str(spill_dir)])
    return con


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse and the landing folder. Empty fields fall back to the
    BOTMETER_WAREHOUSE / BOTMETER_LANDING environment variables, read at run time.

    A run holds the warehouse's run lock from its first step to its last (`hold_lock`; the
    CLI, which already holds it while it decides and launches, turns it off)."""

    warehouse_path: str = ""
    landing_path: str = ""
    # The engine dbt builds the models on: duckdb or spark (docs/spark.md); empty falls back
    # to $BOTMETER_ENGINE, then duckdb.
    engine: str = ""
    hold_lock: bool = True
    _lock: contextlib.ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A run (not a sensor or schedule tick, which have no run) holds the lock.
        if self.hold_lock and context.dagster_run is not None:
            self._lock = contextlib.ExitStack()
            self._lock.enter_context(run_lock(self.resolved_warehouse(), wait_seconds=5))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def resolved_warehouse(self) -> Path:
        return settings.warehouse_path(self.warehouse_path or None)

    def resolved_landing(self) -> Path:
        return settings.landing_path(self.landing_path or None)

    def resolved_engine(self) -> str:
        return settings.engine(self.engine or None)

    def lake(self) -> Path:
        return settings.lake_path(self.resolved_warehouse())

    def published(self) -> Path:
        return settings.published_path(warehouse=self.resolved_warehouse())

    @contextlib.contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.resolved_warehouse(), read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """dbt reads the warehouse path and memory budget from the environment
        (dbt_project/profiles.yml)."""
        warehouse = self.resolved_warehouse()
        values = {
            settings.WAREHOUSE_ENV: str(warehouse),
            settings.MEMORY_LIMIT_ENV: settings.memory_limit(),
            settings.LAKE_ENV: str(settings.lake_path(warehouse)),
            settings.SPARK_HOME_ENV: str(settings.spark_dir(warehouse)),
        }
        previous = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

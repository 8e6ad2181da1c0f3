"""Faults and re-runs: a killed landing or dbt build, then a re-run, gives the same warehouse
as an uninterrupted run; a second concurrent run fails fast; a corrupted configuration fails
before anything is written.

Concurrency choice: botmeter does not wait. DuckDB allows one writing process per file, so a
second run fails at once with WarehouseLockedError ("... is in use by another process ...")
and the CLI exits non-zero; the running one is not disturbed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

import assets.landing as landing_module
from assets.landing import land_partition
from botmeter.cli import CliError, run_pipeline
from botmeter.settings import PROJECT_ROOT, WAREHOUSE_ENV
from checks import blocking_failures
from orchestration.resources import WarehouseLockedError, connect

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(3)]
TABLES_RAW = ["raw.events", "raw.quarantine", "raw.load_audit"]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    from tools.generator import generate

    path = tmp_path_factory.mktemp("faults") / "landing"
    generate(path, start=DAYS[0], days=len(DAYS), events_per_day=200, seed=11)
    return path


def dump(warehouse: Path, tables: list[str]) -> dict[str, list]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: sorted(map(repr, con.execute(f"select * from {t}").fetchall())) for t in tables}
    finally:
        con.close()


def land_all(warehouse: Path, landing: Path) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        for day in DAYS:
            land_partition(con, landing, day)
    finally:
        con.close()


def dbt_cmd(warehouse: Path) -> tuple[list[str], dict]:
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [
        str(dbt),
        "build",
        "--full-refresh",
        "--profiles-dir",
        str(PROJECT_ROOT / "dbt_project"),
        "--target-path",
        str(warehouse.parent / f"target_{warehouse.stem}"),
        "--log-path",
        str(warehouse.parent / "logs"),
    ]
    return cmd, {**os.environ, WAREHOUSE_ENV: str(warehouse)}


def dbt_build(warehouse: Path) -> None:
    cmd, env = dbt_cmd(warehouse)
    done = subprocess.run(cmd, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def mart_tables(warehouse: Path) -> list[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('staging', 'intermediate', 'marts') "
                "and table_type = 'BASE TABLE' "
                "order by 1, 2"
            ).fetchall()
        ]
    finally:
        con.close()


def test_landing_killed_mid_transaction_then_rerun_is_identical(tmp_path, landing, monkeypatch):
    reference = tmp_path / "reference.duckdb"
    land_all(reference, landing)

    crashed = tmp_path / "crashed.duckdb"
    land_all(crashed, landing)  # a previous good state the crash must not damage
    real_insert_sql = landing_module._insert_events_sql

    def crash_after_delete(day):  # raised after the partition's rows were deleted
        raise KeyboardInterrupt("simulated kill in the middle of landing")

    monkeypatch.setattr(landing_module, "_insert_events_sql", crash_after_delete)
    con = duckdb.connect(str(crashed))
    with pytest.raises(KeyboardInterrupt):
        land_partition(con, landing, DAYS[1])
    con.close()
    assert dump(crashed, TABLES_RAW) == dump(reference, TABLES_RAW)  # rolled back

    monkeypatch.setattr(landing_module, "_insert_events_sql", real_insert_sql)
    land_all(crashed, landing)  # the re-run
    assert dump(crashed, TABLES_RAW) == dump(reference, TABLES_RAW)


def test_landing_process_sigkilled_then_rerun_is_identical(tmp_path, landing):
    reference = tmp_path / "reference.duckdb"
    land_all(reference, landing)
    victim = tmp_path / "victim.duckdb"
    script = textwrap.dedent(f"""
        import datetime as dt, os, duckdb
        import assets.landing as m
        real = m._insert_events_sql
        def slow(day):
            print("inside", flush=True)
            import time; time.sleep(60)
            return real(day)
        m._insert_events_sql = slow
        con = duckdb.connect({str(victim)!r})
        m.land_partition(
            con, m.Path({str(landing)!r}), dt.date.fromisoformat({DAYS[0].isoformat()!r})
        )
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "inside"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    land_all(victim, landing)
    assert dump(victim, TABLES_RAW) == dump(reference, TABLES_RAW)


def test_dbt_build_killed_midway_then_rerun_is_identical(tmp_path, landing):
    reference = tmp_path / "reference.duckdb"
    land_all(reference, landing)
    dbt_build(reference)

    victim = tmp_path / "victim.duckdb"
    land_all(victim, landing)
    cmd, env = dbt_cmd(victim)
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    killed_at = None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if "fct_sessions" in line and "START" in line:
            killed_at = line.strip()
            proc.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline
    proc.wait()
    assert killed_at, "dbt finished before it reached fct_sessions"
    dbt_build(victim)  # the re-run

    tables = mart_tables(reference)
    assert tables == mart_tables(victim)
    assert dump(victim, tables) == dump(reference, tables)
    con = duckdb.connect(str(victim), read_only=True)
    try:
        assert blocking_failures(con) == []
    finally:
        con.close()


def test_second_concurrent_run_fails_fast_and_leaves_data_alone(tmp_path, landing):
    warehouse = tmp_path / "wh.duckdb"
    land_all(warehouse, landing)
    before = dump(warehouse, TABLES_RAW)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, time; "
            f"c = duckdb.connect({str(warehouse)!r}); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError, match="in use by another process"):
            connect(warehouse)
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    assert dump(warehouse, TABLES_RAW) == before


def test_corrupted_configuration_fails_before_any_data_is_written(tmp_path, landing, monkeypatch):
    import checks.config_validation as cv

    warehouse = tmp_path / "wh.duckdb"
    project = (PROJECT_ROOT / "dbt_project.yml").read_text()
    for bad in [
        "session_timeout_minutes: -5",
        "session_timeout_minutes: ten",
        "session_timeout_minutes: 0",
    ]:
        broken = tmp_path / "dbt_project.yml"
        broken.write_text(project.replace("session_timeout_minutes: 10", bad))
        monkeypatch.setattr(cv, "DBT_PROJECT_FILE", broken)
        with pytest.raises(CliError, match="session_timeout_minutes"):
            run_pipeline(landing, warehouse)
        assert not warehouse.exists()
    monkeypatch.setattr(cv, "DBT_PROJECT_FILE", PROJECT_ROOT / "dbt_project.yml")

    bad_checks = tmp_path / "checks.yml"
    bad_checks.write_text("channels: web\nfreshness: {max_lag_hours: -1}\n")
    monkeypatch.setenv("BOTMETER_CHECKS_CONFIG", str(bad_checks))
    with pytest.raises(CliError, match="channels must be a non-empty list"):
        run_pipeline(landing, warehouse)
    bad_checks.write_text("channels: [web]\nfreshness: {max_lag_hours: -1}\n")
    with pytest.raises(CliError, match="max_lag_hours"):
        run_pipeline(landing, warehouse)
    assert not warehouse.exists()

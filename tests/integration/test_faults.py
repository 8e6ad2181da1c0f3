"""Faults: after a crash anywhere, a plain `botmeter run` leaves the warehouse, the published
file, its Parquet export and the dashboard exactly as a clean full refresh of the same
landing would (issue 19, items 1 and 2).

Each step adds an arrival day, starts `botmeter run` and kills it (SIGKILL) when it reaches a
stage, then runs it again plainly. At the end every mart and reporting table, the published
file, the Parquet export and the dashboard's figures are compared with a warehouse built by
one clean `botmeter run --full-refresh` of the same landing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from assets.lake import RAW_TABLES
from botmeter import publish, settings
from orchestration.pending import find_pending

BOTMETER = Path(sys.executable).with_name("botmeter")
START = dt.date(2024, 3, 1)
DAYS = 8


def _env(tmp: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp)}


def _run(landing: Path, warehouse: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BOTMETER), "run", "--landing", str(landing), "--warehouse", str(warehouse), *extra],
        capture_output=True,
        text=True,
        env=_env(warehouse.parent),
        timeout=900,
    )


def _killed_at(landing: Path, warehouse: Path, marker: str, delay: float = 0.0, tree=True):
    """Start `botmeter run`, SIGKILL it (and its children with `tree`) once a progress line
    matches `marker`. Returns the pids of the children still alive when `tree` is False."""
    process = subprocess.Popen(
        [str(BOTMETER), "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(warehouse.parent),
        start_new_session=True,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if re.search(marker, line):
            time.sleep(delay)
            children = _children(process.pid)
            if tree:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return [] if tree else children
    process.wait()
    raise AssertionError(f"the run ended before {marker!r}: {''.join(seen)[-2000:]}")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return pids + [c for p in pids for c in _children(p)]


def _wait_gone(pids: list[int], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                alive.append(pid)
        if not alive:
            return
        time.sleep(0.5)
    raise AssertionError(f"processes still alive: {pids}")


def _add_day(source: Path, landing: Path, day: dt.date) -> None:
    shutil.copytree(source / "events" / day.isoformat(), landing / "events" / day.isoformat())


def _published_tables(path: Path) -> list[str]:
    stamp = publish.read_stamp(path)
    assert stamp is not None, f"{path} is not intact"
    return sorted(stamp.table_rows)


def _differences(left: Path, right: Path, tables: list[str]) -> dict[str, tuple[int, int]]:
    con = duckdb.connect()
    con.execute(f"attach '{left}' as l (read_only)")
    con.execute(f"attach '{right}' as r (read_only)")
    out = {}
    for table in tables:
        a = con.execute(
            f"select count(*) from (from l.{table} except all from r.{table})"
        ).fetchone()
        b = con.execute(
            f"select count(*) from (from r.{table} except all from l.{table})"
        ).fetchone()
        if a[0] or b[0]:
            out[table] = (a[0], b[0])
    con.close()
    return out


def _dashboard_figures(published: Path) -> dict:
    page = settings.dashboard_path(published).read_text()
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    return json.loads(data.group(1).replace("<\\/", "</"))["kpis"]


def _parquet_matches(published: Path) -> None:
    stamp = publish.read_stamp(published)
    assert publish.parquet_build_id(published) == stamp.build_id
    con = duckdb.connect()
    con.execute(f"attach '{published}' as p (read_only)")
    for qualified in stamp.table_rows:
        folder = settings.parquet_dir(published) / qualified.split(".")[1]
        diff = con.execute(
            f"select count(*) from (from read_parquet('{folder}/*.parquet') "
            f"except all from p.{qualified})"
        ).fetchone()[0]
        assert diff == 0, qualified
    con.close()


def _lake_matches(warehouse: Path) -> None:
    """The lake holds every raw table's rows of each landed date, and each date's load and
    verdict of the raw checks, as the warehouse does."""
    lake = settings.lake_path(warehouse) / "raw"
    con = duckdb.connect()
    con.execute(f"attach '{warehouse}' as w (read_only)")
    for table in RAW_TABLES:
        query = "select arrival_date, count(*) from {} group by all order by all"
        in_lake = con.execute(
            query.format("read_parquet(?, hive_partitioning = true)"),
            [f"{lake}/{table}/*/*.parquet"],
        ).fetchall()
        assert in_lake == con.execute(query.format(f"w.raw.{table}")).fetchall(), table
    query = "select arrival_date, load_id, contract_passed from {} order by all"
    audit = con.execute(
        query.format("read_parquet(?, hive_partitioning = true)"),
        [f"{lake}/load_audit/*/*.parquet"],
    ).fetchall()
    assert audit == con.execute(query.format("w.raw.load_audit")).fetchall()
    con.close()


def _consistent(landing: Path, warehouse: Path) -> None:
    """Nothing pending, the lake is the warehouse's raw layer, and the serving files are the
    last build's."""
    pending = find_pending(warehouse, landing)
    assert pending.nothing, pending.describe()
    _lake_matches(warehouse)
    published = settings.published_path(warehouse=warehouse)
    _parquet_matches(published)
    from botmeter.report.html import dashboard_build_id

    assert (
        dashboard_build_id(settings.dashboard_path(published))
        == publish.read_stamp(published).build_id
    )


def test_a_killed_run_is_repaired_by_the_next_plain_run(tmp_path):
    from tools.generator import generate

    source = tmp_path / "generated"
    generate(source, start=START, days=DAYS, seed=3, events_per_day=150)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    landing, warehouse = tmp_path / "landing", tmp_path / "run" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    for day in days[:2]:
        _add_day(source, landing, day)
    assert _run(landing, warehouse).returncode == 0

    steps = [
        # (stage, marker, delay, kill the whole process tree)
        ("landing", r"^landed ", 0.0, True),
        ("lake, before the raw checks", r"^lake: ", 0.0, True),
        ("dbt, whole tree", r"^model staging/", 0.0, True),
        ("dbt, its child left running", r"^model intermediate/int_sessions", 0.0, False),
        ("publish", r"^Finished dbt command", 0.05, True),
        ("Parquet and dashboard", r"^published \d+ tables", 0.0, True),
    ]
    for (stage, marker, delay, tree), day in zip(steps, days[2:], strict=True):
        _add_day(source, landing, day)
        survivors = _killed_at(landing, warehouse, marker, delay, tree)
        _wait_gone(survivors)  # a dbt left running finishes (or fails) on its own
        result = _run(landing, warehouse)
        assert result.returncode == 0, f"{stage}: {result.stderr[-3000:]}"
        _consistent(landing, warehouse)

    reference = tmp_path / "reference" / "warehouse.duckdb"
    reference.parent.mkdir()
    assert _run(landing, reference, "--full-refresh").returncode == 0
    tables = _published_tables(settings.published_path(warehouse=reference))
    assert _differences(warehouse, reference, tables) == {}
    published = settings.published_path(warehouse=warehouse)
    assert _differences(published, settings.published_path(warehouse=reference), tables) == {}
    assert _dashboard_figures(published) == _dashboard_figures(
        settings.published_path(warehouse=reference)
    )
    assert not published.with_name(published.name + ".tmp").exists()


def test_a_second_run_fails_fast_and_the_first_completes(tmp_path):
    """A second `botmeter run` on the same warehouse while the first builds fails at once
    with one line, and never makes the first fail (issue 19, item 2)."""
    from tools.generator import generate

    landing = tmp_path / "landing"
    generate(landing, start=START, days=3, seed=4, events_per_day=150)
    warehouse = tmp_path / "run" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    first = subprocess.Popen(
        [str(BOTMETER), "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    log = []
    for line in first.stderr:
        log.append(line)
        if line.startswith("model staging/"):
            break
    started = time.monotonic()
    second = _run(landing, warehouse)
    assert time.monotonic() - started < 30
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 1 and len(lines) == 1, second.stderr
    assert "another botmeter run is using the warehouse" in lines[0]
    log += first.stderr.readlines()
    assert first.wait(timeout=900) == 0, "".join(log)[-3000:]
    _consistent(landing, warehouse)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return result.returncode == 0


def test_disk_full_during_landing_is_repaired_once_space_is_freed(tmp_path):
    """The warehouse on a small filesystem that fills up while landing: the run fails with
    one line, and once space is freed a plain run leaves what a clean run leaves."""
    from tools.generator import generate

    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "48m"):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        landing = tmp_path / "landing"
        generate(landing, start=START, days=3, seed=6, events_per_day=150)
        warehouse = disk / "warehouse.duckdb"
        filler = disk / "filler"
        with open(filler, "wb") as handle:  # leave a few hundred kilobytes
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * (1 << 20))
                    handle.flush()
        with contextlib.suppress(OSError):
            filler.write_bytes(filler.read_bytes()[: filler.stat().st_size - (400 << 10)])
        failed = _run(landing, warehouse)
        assert failed.returncode != 0
        errors = [line for line in failed.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and errors[0].startswith("botmeter: error:"), failed.stderr
        assert "Traceback" not in failed.stderr and "full" in errors[0]
        filler.unlink()
        repaired = _run(landing, warehouse)
        assert repaired.returncode == 0, repaired.stderr[-3000:]
        reference = tmp_path / "reference" / "warehouse.duckdb"
        reference.parent.mkdir()
        assert _run(landing, reference, "--full-refresh").returncode == 0
        tables = _published_tables(settings.published_path(warehouse=reference))
        assert _differences(warehouse, reference, tables) == {}
        _consistent(landing, warehouse)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)

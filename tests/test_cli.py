"""The `botmeter` console script as a user runs it: without an activated virtual environment,
progress per stage when its output is not a terminal, and one line for every mistake."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.pipeline_helpers import event, write_landing

BOTMETER = Path(sys.executable).with_name("botmeter")


def _run(*args, tmp_path, env=None, timeout=600):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [str(BOTMETER), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=timeout,
    )


@pytest.mark.slow
def test_botmeter_run_logs_every_stage_and_a_second_run_has_nothing_to_do(tmp_path):
    landing = tmp_path / "landing"
    day = dt.date(2022, 4, 1)
    write_landing(
        landing,
        {
            day: [
                event("e1", "message", "2022-04-01T10:00:00Z"),
                event("e2", "message", "2022-04-01T10:05:00Z", actor="bot"),
                event("e3", "message", "2022-04-01T10:20:00Z"),
                "not json",
            ],
            day + dt.timedelta(days=1): [event("e1", "message", "2022-04-01T10:00:00Z")],
        },
    )
    (landing / "events" / "junk").mkdir()
    (landing / "events" / "20230513").mkdir()
    warehouse = tmp_path / "wh.duckdb"
    result = _run(
        "run", "--landing", str(landing), "--warehouse", str(warehouse), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr.splitlines()
    # one line per stage, in order, although the output is a pipe (issue 17, item 13)
    first = {
        stage: next(i for i, line in enumerate(log) if line.startswith(stage))
        for stage in ("to land:", "landed 2022-04-01", "model marts/fct_sessions", "published")
    }
    assert list(first.values()) == sorted(first.values()), log
    landed = next(line for line in log if line.startswith("landed 2022-04-01"))
    assert "files=1 read=4 accepted=3 rejected=1 duplicates=0 within the day" in landed
    assert any("junk: not an arrival-date folder" in line for line in log)
    assert any("20230513: not an arrival-date folder" in line for line in log)
    assert "checks:" in result.stdout and "published:" in result.stdout
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from marts.fct_sessions").fetchall() == [(2,)]
    con.close()
    # the run is recorded in the warehouse's own Dagster instance (issue 17, item 14)
    assert any((tmp_path / ".dagster-wh").rglob("*.db"))
    again = _run("run", "--landing", str(landing), "--warehouse", str(warehouse), tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing new" in again.stdout and "landed" not in again.stderr


def _one_line_error(result) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("botmeter: error:"), lines[0]
    return lines[0]


def test_a_missing_landing_folder_is_one_line(tmp_path):
    result = _run(
        "run",
        "--landing",
        str(tmp_path / "missing"),
        "--warehouse",
        str(tmp_path / "wh.duckdb"),
        tmp_path=tmp_path,
    )
    assert "landing folder not found" in _one_line_error(result)
    assert not (tmp_path / "wh.duckdb").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("directory", "is a directory"),
        ("corrupted", "corrupted"),
    ],
)
def test_a_bad_warehouse_file_is_one_line(tmp_path, make, message):
    """A warehouse path that is a directory, or a file that is not a DuckDB database (or
    fails its checksums), stops the run with one line (issue 19, item 8)."""
    landing = tmp_path / "landing"
    write_landing(landing, {dt.date(2024, 3, 1): [event("e1", "message", "2024-03-01T10:00:00Z")]})
    warehouse = tmp_path / "wh.duckdb"
    if make == "directory":
        warehouse.mkdir()
    else:
        warehouse.write_bytes(b"\x00" * 4096 + b"this is not a duckdb file" * 100)
    result = _run(
        "run", "--landing", str(landing), "--warehouse", str(warehouse), tmp_path=tmp_path
    )
    assert message in _one_line_error(result)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BOTMETER_MEMORY_LIMIT": "abc"}, "BOTMETER_MEMORY_LIMIT='abc' is not a memory size"),
        ({"BOTMETER_KPI_CONFIG": "BINARY"}, "not a text file"),
        ({"BOTMETER_CHECKS_CONFIG": "CHUNKS"}, "gx_chunk_rows is no longer used"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, env, message):
    landing = tmp_path / "landing"
    write_landing(landing, {dt.date(2024, 3, 1): [event("e1", "message", "2024-03-01T10:00:00Z")]})
    binary = tmp_path / "kpis.yml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 20)
    chunks = tmp_path / "checks.yml"
    chunks.write_text("gx_chunk_rows: 1\n")
    env = {k: {"BINARY": str(binary), "CHUNKS": str(chunks)}.get(v, v) for k, v in env.items()}
    result = _run(
        "run",
        "--landing",
        str(landing),
        "--warehouse",
        str(tmp_path / "wh.duckdb"),
        tmp_path=tmp_path,
        env=env,
    )
    assert message in _one_line_error(result)
    assert not (tmp_path / "wh.duckdb").exists()


def test_a_read_only_warehouse_folder_is_one_line(tmp_path):
    """A folder the run cannot write to (simulated with a file where the folder should be,
    since tests run as root) is one line."""
    landing = tmp_path / "landing"
    write_landing(landing, {dt.date(2024, 3, 1): [event("e1", "message", "2024-03-01T10:00:00Z")]})
    (tmp_path / "locked").write_text("a file, not a folder")
    result = _run(
        "run",
        "--landing",
        str(landing),
        "--warehouse",
        str(tmp_path / "locked" / "wh.duckdb"),
        tmp_path=tmp_path,
    )
    assert "cannot write beside the warehouse" in _one_line_error(result)


def test_check_config_prints_the_rules_and_the_kpis(tmp_path):
    result = _run("check-config", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sessions end after 10 min" in result.stdout and "containment_rate" in result.stdout

"""Smoke tests of the `botmeter` console script as a user runs it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.pipeline_helpers import event, write_landing

BOTMETER = Path(sys.executable).with_name("botmeter")


def _run(*args, tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path / "dagster_home"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [str(BOTMETER), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_botmeter_run_on_a_small_landing_folder(tmp_path):
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
    warehouse = tmp_path / "wh.duckdb"
    result = _run(
        "run", "--landing", str(landing), "--warehouse", str(warehouse), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2022-04-01: files=1 read=4 accepted=3 rejected=1 duplicates=0" in result.stdout
    assert "ignored" in result.stdout and "junk" in result.stdout
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from marts.fct_sessions").fetchall() == [(2,)]
    con.close()
    # The run is recorded in the Dagster instance.
    assert any((tmp_path / "dagster_home").rglob("*.db"))
    # A second run with nothing new lands nothing and says so.
    again = _run("run", "--landing", str(landing), "--warehouse", str(warehouse), tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing new" in again.stdout and "files=" not in again.stdout


def test_botmeter_run_fails_with_one_line_cause(tmp_path):
    result = _run(
        "run",
        "--landing",
        str(tmp_path / "missing"),
        "--warehouse",
        str(tmp_path / "wh.duckdb"),
        tmp_path=tmp_path,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "landing folder not found" in lines[0]

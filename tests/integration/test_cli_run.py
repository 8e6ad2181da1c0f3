"""`botmeter run` as a user runs it: progress per stage, and a second run with nothing to do."""

from __future__ import annotations

import datetime as dt

import duckdb

from tests.pipeline_helpers import event, write_landing
from tests.unit.test_cli import _run


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

"""Bad inputs are handled without a crash: every bad line is quarantined with a reason, every
good line is kept, and the nothing-lost equation (lines read = accepted + rejected) holds.

Documented behaviour (assets/landing.py):
- an unknown top-level field is ignored; `properties` is kept as JSON;
- numbers given as strings ("0.8", "120") are accepted and typed; ids given as numbers are
  kept as text;
- a null or empty id is rejected as `missing_field`;
- a folder name that is not a date is ignored with a reason (and reported by `botmeter run`);
- a missing landing folder is a clear error before anything is written.

Every landing is checked against the nothing-lost equation (the dbt test
dbt_project/macros/tests/landing_balances.sql), restated here in SQL: see `assert_balanced`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import duckdb
import pytest

import botmeter.pipeline
from assets.landing import LandingError, land_partition, list_arrival_dates
from botmeter.pipeline import RunError, run_pipeline
from botmeter.settings import DAGSTER_HOME_ENV, load_rules

DAY = dt.date(2024, 3, 1)


def good(event_id: str, **extra) -> dict:
    return {
        "event_id": event_id,
        "event_type": "message",
        "occurred_at": "2024-03-01T10:00:00Z",
        "account_id": "acc_1",
        "bot_id": "bot_1",
        "channel": "web",
        "customer_id": "cus_1",
        "conversation_id": "conv_1",
        "actor": "user",
        **extra,
    }


def folder(landing: Path, day: dt.date = DAY) -> Path:
    path = landing / "events" / day.isoformat()
    path.mkdir(parents=True, exist_ok=True)
    return path


def assert_balanced(con: duckdb.DuckDBPyConnection, day: dt.date) -> None:
    """Nothing lost on `day`: lines read = accepted + rejected = rows in raw.events + rows in
    raw.quarantine, and the landed files' lines add up to the lines read."""
    audit = con.execute(
        "select lines_read, accepted, rejected from raw.load_audit where arrival_date = ?", [day]
    ).fetchone()
    assert audit is not None, f"{day} has no load_audit row"
    lines_read, accepted, rejected = audit
    in_events, in_quarantine, in_files = con.execute(
        """
        select
            (select count(*) from raw.events where arrival_date = $day),
            (select count(*) from raw.quarantine where arrival_date = $day),
            (select coalesce(sum(lines_read), 0) from raw.landing_files
             where arrival_date = $day and is_landed)
        """,
        {"day": day},
    ).fetchone()
    assert lines_read == accepted + rejected == in_events + in_quarantine, (audit, in_events)
    assert (accepted, rejected) == (in_events, in_quarantine)
    assert in_files == lines_read


def land(tmp_path: Path, day: dt.date = DAY):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    try:
        result = land_partition(con, tmp_path / "landing", day)
        assert_balanced(con, day)
        reasons = dict(
            con.execute("select reason, count(*) from raw.quarantine group by 1").fetchall()
        )
        events = con.execute("select * from raw.events order by line_number").df()
    finally:
        con.close()
    assert result.lines_read == result.accepted + result.rejected
    return result, reasons, events


def test_empty_file(tmp_path):
    (folder(tmp_path / "landing") / "empty.jsonl").write_bytes(b"")
    (folder(tmp_path / "landing") / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    result, reasons, events = land(tmp_path)
    assert (result.files, result.lines_read, result.accepted, result.rejected) == (2, 0, 0, 0)
    assert events.empty and reasons == {}


def test_file_of_only_bad_lines(tmp_path):
    lines = ["not json", "{", "[1, 2]", json.dumps({"event_id": "x"}), ""]
    (folder(tmp_path / "landing") / "bad.jsonl").write_text("\n".join(lines) + "\n")
    result, reasons, events = land(tmp_path)
    assert result.accepted == 0 and result.rejected == 5 and events.empty
    assert reasons == {"invalid_json": 3, "missing_field": 1, "blank_line": 1}


def test_truncated_gzip_keeps_complete_lines_and_reports_truncation(tmp_path):
    text = "".join(json.dumps(good(f"e{i}")) + "\n" for i in range(200)).encode()
    data = gzip.compress(text)
    (folder(tmp_path / "landing") / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    result, reasons, events = land(tmp_path)
    assert reasons.get("truncated_file") == 1
    assert 0 < result.accepted < 200
    # The last decoded line may be cut mid-way: it is rejected, never half-accepted.
    assert set(events["event_id"]) <= {f"e{i}" for i in range(200)}


def test_ten_megabyte_single_line(tmp_path):
    huge_valid = json.dumps(good("big", properties={"blob": "x" * 10_000_000}))
    huge_garbage = "y" * 10_000_000
    lines = [huge_valid, huge_garbage, json.dumps(good("small"))]
    (folder(tmp_path / "landing") / "big.jsonl").write_text("\n".join(lines) + "\n")
    result, reasons, events = land(tmp_path)
    assert result.lines_read == 3 and result.accepted == 2
    assert reasons == {"invalid_json": 1}
    assert sorted(events["event_id"]) == ["big", "small"]


def test_non_utf8_bytes(tmp_path):
    data = (
        (json.dumps(good("ok1")) + "\n").encode()
        + b'{"event_id": "\xff\xfe bad"}\n'
        + (json.dumps(good("ok2")) + "\n").encode()
    )
    (folder(tmp_path / "landing") / "latin.jsonl").write_bytes(data)
    result, reasons, events = land(tmp_path)
    assert reasons == {"invalid_utf8": 1}
    assert sorted(events["event_id"]) == ["ok1", "ok2"]


def test_folder_name_that_is_not_a_date_is_ignored(tmp_path):
    landing = tmp_path / "landing"
    folder(landing)
    (landing / "events" / "not-a-date").mkdir()
    (landing / "events" / "2024-02-30").mkdir()
    (landing / "events" / "stray.txt").write_text("x")
    folders = list_arrival_dates(landing, load_rules(), today=DAY)
    assert folders.dates == [DAY]
    not_a_date = "not an arrival-date folder (YYYY-MM-DD)"
    assert folders.ignored == [
        ("2024-02-30", not_a_date),
        ("not-a-date", not_a_date),
        ("stray.txt", "a file, not an arrival-date folder (YYYY-MM-DD)"),
    ]


def test_missing_landing_folder(tmp_path):
    with pytest.raises(LandingError, match="landing folder not found"):
        list_arrival_dates(tmp_path / "nowhere", load_rules())
    # A missing arrival folder lands an empty partition (and empties a previous one).
    (folder(tmp_path / "landing") / "a.jsonl").write_text(json.dumps(good("e1")) + "\n")
    result, _, events = land(tmp_path)
    assert result.accepted == 1
    (folder(tmp_path / "landing") / "a.jsonl").unlink()
    folder(tmp_path / "landing").rmdir()
    result, reasons, events = land(tmp_path)
    assert (result.files, result.lines_read, result.events_replaced) == (0, 0, 1)
    assert events.empty and reasons == {}


def test_run_pipeline_refuses_a_missing_landing_folder_before_loading_dagster(
    tmp_path, monkeypatch
):
    """`botmeter run` on a landing folder that does not exist must fail in one line before
    any Dagster work (and before the warehouse is created): loading the definitions is made
    to fail here, so the test stays cheap and shows where the check happens."""

    def definitions(_warehouse):
        raise AssertionError("Dagster definitions loaded before the landing folder was checked")

    monkeypatch.setattr(botmeter.pipeline, "_definitions", definitions)
    # run_pipeline points these at the warehouse's Dagster instance: restored after the test.
    monkeypatch.setenv(DAGSTER_HOME_ENV, str(tmp_path / "dagster"))
    monkeypatch.setenv(botmeter.pipeline.PLANNED_EVENTS_ENV, "true")
    with pytest.raises(RunError, match="landing folder not found"):
        run_pipeline(tmp_path / "nowhere", tmp_path / "wh.duckdb")
    assert not (tmp_path / "wh.duckdb").exists()


def test_unknown_extra_field_is_ignored_and_properties_kept(tmp_path):
    line = good("e1", surprise={"nested": 1}, properties={"plan": "pro", "seats": 3})
    (folder(tmp_path / "landing") / "extra.jsonl").write_text(json.dumps(line) + "\n")
    result, reasons, events = land(tmp_path)
    assert result.accepted == 1
    assert "surprise" not in events.columns
    assert json.loads(events.loc[0, "properties"]) == {"plan": "pro", "seats": 3}


def test_numbers_as_strings(tmp_path):
    lines = [
        good("e1", event_type="intent_matched", intent="greet", confidence="0.8"),
        good("e2", event_type="api_call", api_name="crm", status_code="200", latency_ms="120.5"),
        good("e3", customer_id=12345, account_id=7),
        good("e4", event_type="intent_matched", intent="greet", confidence="high"),
    ]
    (folder(tmp_path / "landing") / "strings.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines)
    )
    result, reasons, events = land(tmp_path)
    assert result.accepted == 3 and reasons == {"invalid_value": 1}
    by_id = events.set_index("event_id")
    assert by_id.loc["e1", "confidence"] == pytest.approx(0.8)
    assert by_id.loc["e2", "status_code"] == 200
    assert by_id.loc["e2", "latency_ms"] == pytest.approx(120.5)
    assert (by_id.loc["e3", "customer_id"], by_id.loc["e3", "account_id"]) == ("12345", "7")


def test_null_ids(tmp_path):
    lines = [
        good("e1"),
        good(None),
        good("e2", customer_id=None),
        good(""),
        good("e4", bot_id="  "),
    ]
    (folder(tmp_path / "landing") / "nulls.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines)
    )
    result, reasons, events = land(tmp_path)
    assert list(events["event_id"]) == ["e1"]
    assert reasons == {"missing_field": 4}

"""The raw event contract: every rejection reason, nothing lost, idempotent and order-free."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import duckdb
import pytest

from assets.landing import LandingError, land_partition, list_arrival_dates, read_ahead
from botmeter.settings import load_rules
from tests.pipeline_helpers import event, land, write_landing

DAY = dt.date(2022, 3, 10)
OK = event("ok1", "message", "2022-03-10T10:00:00Z")


def _land_lines(tmp_path, lines, gz=False, day=DAY):
    landing = tmp_path / "landing"
    write_landing(landing, {day: lines}, gz=gz)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    result = land_partition(con, landing, day)
    quarantine = con.execute(
        "select line_number, reason, reason_detail, raw_line from raw.quarantine "
        "order by line_number"
    ).fetchall()
    events = con.execute("select * from raw.events order by line_number").df()
    con.close()
    return result, quarantine, events


REJECTIONS = [
    ("not json at all", "invalid_json", "not valid JSON"),
    ('{"event_id": "x", ', "invalid_json", "not valid JSON"),
    ("[1, 2, 3]", "invalid_json", "JSON is not an object"),
    ('"just a string"', "invalid_json", "JSON is not an object"),
    ("   ", "blank_line", None),
    (
        json.dumps({k: v for k, v in OK.items() if k != "customer_id"}),
        "missing_field",
        "customer_id",
    ),
    (json.dumps({**OK, "event_id": None}), "missing_field", "event_id"),
    (json.dumps({**OK, "account_id": ""}), "missing_field", "account_id"),
    (json.dumps({**OK, "event_type": "page_scroll"}), "unknown_event_type", "page_scroll"),
    (
        json.dumps({**OK, "occurred_at": "10/03/2022 10:00"}),
        "invalid_timestamp",
        "10/03/2022 10:00",
    ),
    (json.dumps({**OK, "occurred_at": 1646906400}), "invalid_timestamp", "1646906400"),
    (
        json.dumps({**OK, "occurred_at": "2022-02-03T23:59:59.999Z"}),
        "before_data_start",
        "2022-02-03T23:59:59.999000Z",
    ),
    (
        json.dumps({**OK, "occurred_at": "2022-03-12T00:00:00.001Z"}),
        "future_timestamp",
        "2022-03-12T00:00:00.001000Z",
    ),
    (json.dumps({**OK, "actor": "robot"}), "invalid_value", "actor=robot"),
    (
        json.dumps(
            event("i1", "intent_matched", "2022-03-10T10:00:00Z", intent="x", confidence=1.2)
        ),
        "invalid_value",
        "confidence=1.2",
    ),
    (
        json.dumps(event("a1", "api_call", "2022-03-10T10:00:00Z", api_name="x", latency_ms=-1)),
        "invalid_value",
        "latency_ms=-1",
    ),
    (
        json.dumps(
            event("a2", "api_call", "2022-03-10T10:00:00Z", api_name="x", status_code="teapot")
        ),
        "invalid_value",
        "status_code=teapot",
    ),
    (json.dumps(event("p1", "impression", "2022-03-10T10:00:00Z")), "missing_field", "page_url"),
    (
        json.dumps(event("t1", "ticket_created", "2022-03-10T10:00:00Z", conversation_id="c")),
        "missing_field",
        "ticket_id",
    ),
    (json.dumps({**OK, "customer_id": {"id": 1}}), "invalid_field", "customer_id"),
    # Several text fields of the wrong JSON type: the first in field order is named.
    (
        json.dumps({**OK, "intent": [1], "bot_name": True, "channel": {"x": 1}}),
        "invalid_field",
        "channel",
    ),
    (json.dumps({**OK, "kpi_name": False}), "invalid_field", "kpi_name"),
    # A number is a valid id or label, never a timestamp.
    (json.dumps({**OK, "occurred_at": 1646906400}), "invalid_timestamp", "1646906400"),
]


@pytest.mark.parametrize(
    ("line", "reason", "detail"), REJECTIONS, ids=[f"{r[1]}-{i}" for i, r in enumerate(REJECTIONS)]
)
def test_each_rejection_reason(tmp_path, line, reason, detail):
    result, quarantine, events = _land_lines(tmp_path, [OK, line])
    assert (result.lines_read, result.accepted, result.rejected) == (2, 1, 1)
    assert quarantine == [(2, reason, detail, line)]
    assert list(events["event_id"]) == ["ok1"]


def test_invalid_utf8_line_is_quarantined_and_others_kept(tmp_path):
    landing = tmp_path / "landing"
    folder = landing / "events" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(
        json.dumps(OK).encode() + b"\n" + b'{"event_id": "\xff\xfe"}\n'
    )
    con = duckdb.connect()
    result = land_partition(con, landing, DAY)
    assert (result.accepted, result.rejected) == (1, 1)
    assert con.execute("select reason from raw.quarantine").fetchall() == [("invalid_utf8",)]


def test_windows_line_endings_land_like_unix_ones(tmp_path):
    """CRLF files (also one with broken bytes, which takes the slow path) keep no trailing
    carriage return in values or quarantined lines; a line of only CRs is blank."""
    landing = tmp_path / "landing"
    folder = landing / "events" / DAY.isoformat()
    folder.mkdir(parents=True)
    ok2 = event("ok2", "message", "2022-03-10T10:01:00Z")
    (folder / "a.jsonl").write_bytes(
        json.dumps(OK).encode() + b"\r\n" + b"not json\r\r\n" + b"\r\n" + json.dumps(ok2).encode()
    )
    (folder / "b.jsonl").write_bytes(
        b'{"event_id": "\xff"}\r\n' + json.dumps(ok2).encode() + b"\r\n"
    )
    con = duckdb.connect()
    result = land_partition(con, landing, DAY)
    assert (result.lines_read, result.accepted, result.rejected) == (6, 3, 3)
    assert con.execute(
        "select source_file, line_number, reason, raw_line from raw.quarantine order by all"
    ).fetchall() == [
        ("a.jsonl", 2, "invalid_json", "not json"),
        ("a.jsonl", 3, "blank_line", ""),
        ("b.jsonl", 1, "invalid_utf8", '{"event_id": "\\xff"}'),
    ]
    assert con.execute(
        "select event_id, customer_id, channel from raw.events order by all"
    ).fetchall() == [
        ("ok1", OK["customer_id"], OK["channel"].lower()),
        ("ok2", ok2["customer_id"], ok2["channel"].lower()),
        ("ok2", ok2["customer_id"], ok2["channel"].lower()),
    ]


def test_read_ahead_yields_every_folder_in_order_and_lands_like_direct_reads(tmp_path):
    days = [DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=3)]
    landing = tmp_path / "landing"
    write_landing(
        landing,
        {
            d: [event(f"e{d.day}-{i}", "message", f"{d}T10:00:0{i}Z") for i in range(3)]
            for d in days
        },
    )
    batches = list(read_ahead(landing, days + [DAY + dt.timedelta(days=2)]))
    assert [b.arrival_date for b in batches] == days + [DAY + dt.timedelta(days=2)]
    assert [b.table.num_rows for b in batches] == [3, 3, 3, 0]
    direct, ahead = duckdb.connect(), duckdb.connect()
    for b in batches:
        land_partition(direct, landing, b.arrival_date)
        land_partition(ahead, landing, b.arrival_date, batch=b)
    query = "select * exclude (landed_at) from raw.load_audit order by all"
    assert direct.execute(query).fetchall() == ahead.execute(query).fetchall()
    files = "select * from raw.landing_files order by all"
    assert direct.execute(files).fetchall() == ahead.execute(files).fetchall()
    with pytest.raises(LandingError, match="handed to landing"):
        land_partition(ahead, landing, DAY, batch=batches[1])


def test_truncated_gzip_keeps_complete_lines_and_records_the_damage(tmp_path):
    landing = tmp_path / "landing"
    folder = landing / "events" / DAY.isoformat()
    folder.mkdir(parents=True)
    lines = [json.dumps(event(f"e{i}", "message", "2022-03-10T10:00:00Z")) for i in range(200)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    (folder / "a.jsonl.gz").write_bytes(data[: len(data) // 2])
    con = duckdb.connect()
    result = land_partition(con, landing, DAY)
    reasons = dict(
        con.execute("select reason, count(*) from raw.quarantine group by reason").fetchall()
    )
    assert reasons["truncated_file"] == 1
    assert result.accepted > 0
    assert result.lines_read == result.accepted + result.rejected


def test_timestamps_with_offsets_are_converted_to_utc(tmp_path):
    lines = [
        event("z", "message", "2022-03-10T10:00:00Z"),
        event("plus", "message", "2022-03-10T12:00:00+02:00"),
        event("minus", "message", "2022-03-10T05:30:00-04:30"),
        event("naive", "message", "2022-03-10T10:00:00"),
        event("millis", "message", "2022-03-10T10:00:00.250Z"),
    ]
    _, quarantine, events = _land_lines(tmp_path, lines)
    assert quarantine == []
    got = dict(zip(events["event_id"], events["occurred_at"], strict=True))
    ten = dt.datetime(2022, 3, 10, 10)
    assert got["z"] == got["plus"] == got["minus"] == got["naive"] == ten
    assert got["millis"] == ten + dt.timedelta(milliseconds=250)


def test_data_start_boundary(tmp_path):
    day = dt.date(2022, 2, 4)
    lines = [
        event("before", "message", "2022-02-03T23:59:59.999Z"),
        event("first", "message", "2022-02-04T00:00:00.000Z"),
        event("offset_before", "message", "2022-02-04T00:30:00+01:00"),
    ]
    _, quarantine, events = _land_lines(tmp_path, lines, day=day)
    assert list(events["event_id"]) == ["first"]
    assert [r[1] for r in quarantine] == ["before_data_start", "before_data_start"]


def test_future_boundary_is_24h_after_the_end_of_the_arrival_day(tmp_path):
    lines = [
        event("edge", "message", "2022-03-12T00:00:00Z"),
        event("past_edge", "message", "2022-03-12T00:00:00.001Z"),
    ]
    _, quarantine, events = _land_lines(tmp_path, lines)
    assert list(events["event_id"]) == ["edge"]
    assert [r[1] for r in quarantine] == ["future_timestamp"]


def test_numbers_as_strings_and_unknown_fields(tmp_path):
    line = event(
        "n1",
        "api_call",
        "2022-03-10T10:00:00Z",
        api_name="crm",
        status_code="503",
        latency_ms="12.5",
        surprise={"kept": False},
        properties={"region": "eu"},
    )
    _, quarantine, events = _land_lines(tmp_path, [line])
    assert quarantine == []
    row = events.iloc[0]
    assert (row["status_code"], row["latency_ms"]) == (503, 12.5)
    assert json.loads(row["properties"]) == {"region": "eu"}
    assert "surprise" not in events.columns


def test_nothing_lost_on_generated_data_with_injected_bad_lines(tmp_path):
    from tools.generator import generate

    landing = tmp_path / "landing"
    summary = generate(landing, start=dt.date(2022, 3, 1), days=3, seed=3, events_per_day=400)
    day_folder = landing / "events" / "2022-03-02"
    (day_folder / "injected.jsonl").write_text("garbage\n[1]\n\n" + json.dumps(OK) + "\n")
    dates = list_arrival_dates(landing, load_rules()).dates
    results = land(tmp_path / "wh.duckdb", landing, dates)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    raw_rows = con.execute("select count(*) from raw.events").fetchall()[0][0]
    quarantined = con.execute("select count(*) from raw.quarantine").fetchall()[0][0]
    distinct = con.execute("select count(distinct event_id) from raw.events").fetchall()[0][0]
    audit = con.execute(
        "select sum(lines_read), sum(accepted), sum(rejected) from raw.load_audit"
    ).fetchall()[0]
    in_files = con.execute(
        "select sum(lines_read) from raw.landing_files where is_landed"
    ).fetchone()[0]
    con.close()
    lines_read = sum(r.lines_read for r in results)
    assert lines_read == summary.lines + 4
    assert lines_read == raw_rows + quarantined
    assert audit == (lines_read, raw_rows, quarantined)
    assert in_files == lines_read  # every line is counted against its file
    assert all(r.lines_read == r.accepted + r.rejected for r in results)
    # rows read = rows kept + rows rejected + duplicates dropped
    assert lines_read == distinct + quarantined + (raw_rows - distinct)
    assert raw_rows - distinct > 0, "generator writes duplicate deliveries"
    assert quarantined >= summary.malformed + 3


def test_relanding_a_partition_is_idempotent_and_replaces_only_it(tmp_path):
    """Re-landing the same folder leaves the same rows, files and counts; only the load is
    new (a higher load id, and no changed rows for the build to redo)."""
    landing = tmp_path / "landing"
    other = DAY + dt.timedelta(days=1)
    write_landing(
        landing, {DAY: [OK, "bad"], other: [event("o", "message", "2022-03-11T10:00:00Z")]}
    )
    wh = tmp_path / "wh.duckdb"
    land(wh, landing, [DAY, other])

    def snapshot():
        con = duckdb.connect(str(wh), read_only=True)
        try:
            return [
                con.execute(f"select * from {t} order by all").fetchall()
                for t in (
                    "raw.events",
                    "raw.quarantine",
                    "raw.landing_files",
                    "(select * exclude (load_id, landed_at, has_changed_rows) from raw.load_audit)",
                )
            ]
        finally:
            con.close()

    first = snapshot()
    (again,) = land(wh, landing, [DAY])
    assert snapshot() == first
    assert again.load_id == 3 and not again.has_changed_rows and again.events_replaced == 0
    # The folder changes: only that partition's rows change.
    write_landing(landing, {DAY: [event("new", "message", "2022-03-10T11:00:00Z")]})
    land(wh, landing, [DAY])
    con = duckdb.connect(str(wh), read_only=True)
    ids = [r[0] for r in con.execute("select event_id from raw.events order by 1").fetchall()]
    con.close()
    assert ids == ["new", "o"]


def test_failure_half_way_leaves_previous_state(tmp_path, monkeypatch):
    """A landing that fails inside its transaction leaves the previous rows, files, audit and
    history; the next landing gets a new, higher load id."""
    landing = tmp_path / "landing"
    write_landing(landing, {DAY: [OK]})
    wh = tmp_path / "wh.duckdb"
    land(wh, landing, [DAY])
    write_landing(landing, {DAY: [event("other", "message", "2022-03-10T11:00:00Z")]})

    import assets.landing as landing_module

    def broken(_day):
        return "insert into raw.events select * from no_such_table"

    monkeypatch.setattr(landing_module, "_insert_events_sql", broken)
    with pytest.raises(duckdb.Error):
        land(wh, landing, [DAY])
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("select event_id from raw.events").fetchall() == [("ok1",)]
    assert con.execute("select load_id from raw.load_audit").fetchall() == [(1,)]
    assert con.execute("select load_id from raw.load_history").fetchall() == [(1,)]
    assert con.execute("select file_name, lines_read from raw.landing_files").fetchall() == [
        ("part-000.jsonl", 1)
    ]
    con.close()
    monkeypatch.undo()
    (result,) = land(wh, landing, [DAY])
    assert result.load_id > 1 and result.accepted == 1


def test_duplicates_are_kept_in_raw_whatever_the_landing_order(tmp_path):
    later = DAY + dt.timedelta(days=1)
    dup = event("dup", "message", "2022-03-10T10:00:00Z")
    landing = tmp_path / "landing"
    write_landing(landing, {DAY: [dup, dup], later: [dup, OK]})
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    results_a = land(a, landing, [DAY, later])
    land(b, landing, [later, DAY])
    assert [r.duplicates_within_day for r in results_a] == [1, 0]

    def rows(path):
        con = duckdb.connect(str(path), read_only=True)
        try:
            return con.execute("select * from raw.events order by all").fetchall()
        finally:
            con.close()

    assert rows(a) == rows(b)
    assert len(rows(a)) == 4


def test_list_arrival_dates_ignores_non_date_folders(tmp_path):
    (tmp_path / "events" / "2022-03-01").mkdir(parents=True)
    (tmp_path / "events" / "not-a-date").mkdir()
    (tmp_path / "events" / "README.txt").write_text("x")
    folders = list_arrival_dates(tmp_path, load_rules(), today=dt.date(2022, 3, 1))
    assert folders.dates == [dt.date(2022, 3, 1)]
    assert folders.ignored == [
        ("README.txt", "a file, not an arrival-date folder (YYYY-MM-DD)"),
        ("not-a-date", "not an arrival-date folder (YYYY-MM-DD)"),
    ]


def test_events_checksum_tells_a_relanded_day_from_a_changed_one(tmp_path):
    """raw.load_audit.events_checksum tells a re-landed day from a changed one: the same file
    re-landed, after other days or not, gives the same checksum and has_changed_rows false
    (the build has nothing to redo); any changed, added or removed row gives another checksum
    and has_changed_rows true. Rows carry their file and line, so the same events moved to
    other lines or files also count as a change."""
    landing = tmp_path / "landing"
    lines = [event(f"e{i}", "message", f"2022-03-10T10:0{i}:00Z") for i in range(4)]
    lines.append(lines[0])  # a duplicate copy counts too
    write_landing(landing, {DAY: lines, DAY + dt.timedelta(days=1): lines[:2]})
    con = duckdb.connect()

    def land_checksum(day_lines=None) -> tuple[str, bool]:
        if day_lines is not None:
            write_landing(landing, {DAY: day_lines})  # rewrites the day's one file
        result = land_partition(con, landing, DAY)
        query = (
            "select events_checksum, has_changed_rows from raw.load_audit where arrival_date = ?"
        )
        checksum, changed = con.execute(query, [DAY]).fetchone()
        assert changed == result.has_changed_rows
        return checksum, changed

    first, changed = land_checksum()
    assert first.startswith("5:") and changed  # a first landing is a change
    land_partition(con, landing, DAY + dt.timedelta(days=1))
    assert land_checksum() == (first, False)  # re-landed after another day: same rows
    seen = {first}
    for rows in (
        [*lines[:4], {**lines[0], "channel": "whatsapp"}],  # one field of one copy
        lines[:4],  # a copy removed
        [*lines, event("e9", "message", "2022-03-10T11:00:00Z")],  # an event added
    ):
        checksum, changed = land_checksum(rows)
        assert checksum not in seen and changed
        seen.add(checksum)
        assert land_checksum() == (checksum, False)  # the same file again
    assert land_checksum(lines) == (first, True)  # the original file again: a change back
    (landing / "events" / DAY.isoformat() / "part-000.jsonl").unlink()
    assert land_checksum() == ("0:0", True)
    assert land_checksum() == ("0:0", False)  # still empty
    empty_day = DAY + dt.timedelta(days=5)
    (landing / "events" / empty_day.isoformat()).mkdir()
    result = land_partition(con, landing, empty_day)
    # a new date without rows changes no row: no build (the benchmark's empty day built)
    assert (result.accepted, result.has_changed_rows) == (0, False)


def test_events_replaced_counts_rows_the_previous_landing_had_and_this_one_lacks(tmp_path):
    """raw.load_audit.events_replaced: rows of the date's previous landing that the new one
    lacks (removed, or changed in any column, provenance included). It is per landing, not
    cumulative: raw.load_history keeps one row per landing under a load id that only grows,
    and the build reads it to decide a rebuild (dbt_project/macros/build_record.sql)."""
    landing = tmp_path / "landing"
    lines = [event(f"e{i}", "message", f"2022-03-10T10:0{i}:00Z") for i in range(4)]
    changed = [{**lines[0], "channel": "whatsapp"}, *lines[1:]]
    con = duckdb.connect()

    def land_replaced(day_lines) -> int:
        write_landing(landing, {DAY: day_lines})
        result = land_partition(con, landing, DAY)
        query = "select events_replaced from raw.load_audit where arrival_date = ?"
        assert con.execute(query, [DAY]).fetchone()[0] == result.events_replaced
        return result.events_replaced

    assert land_replaced(lines) == 0  # first landing
    assert land_replaced(lines) == 0  # the same rows again
    assert land_replaced([*lines, event("e9", "message", "2022-03-10T11:00:00Z")]) == 0  # added
    assert land_replaced(lines) == 1  # e9 removed
    assert land_replaced(changed) == 1  # e0 changed
    assert land_replaced(changed) == 0  # the same again: not sticky
    (landing / "events" / DAY.isoformat() / "part-000.jsonl").unlink()
    result = land_partition(con, landing, DAY)  # the folder emptied: all four rows gone
    assert (result.events_replaced, result.accepted) == (4, 0)
    history = con.execute(
        "select load_id, events_replaced, has_changed_rows, accepted "
        "from raw.load_history where arrival_date = ? order by load_id",
        [DAY],
    ).fetchall()
    assert history == [
        (1, 0, True, 4),
        (2, 0, False, 4),
        (3, 0, True, 5),
        (4, 1, True, 4),
        (5, 1, True, 4),
        (6, 0, False, 4),
        (7, 4, True, 0),
    ]
    audit = con.execute("select load_id, events_replaced from raw.load_audit").fetchall()
    assert audit == [(7, 4)]  # the audit holds the current load only

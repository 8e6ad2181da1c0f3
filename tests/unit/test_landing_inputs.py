"""The landing contract of the rewritten landing (assets/landing.py): every folder entry is
accounted for, arrival folders are strict dates, non-finite numbers and impossible UTC
offsets are rejected, the folder fingerprint follows content, and the per-date bookkeeping
(earlier duplicates, removed dates) is recorded on the current load."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import time
from pathlib import Path

import duckdb
import pytest

import assets.landing as landing_module
from assets.landing import (
    LandingError,
    count_earlier_duplicates,
    folder_fingerprint,
    land_partition,
    list_arrival_dates,
    remove_dates,
    scan_folder,
)
from botmeter.settings import load_check_settings, load_rules
from orchestration.pending import known_files
from tests.pipeline_helpers import event, write_landing

DAY = dt.date(2022, 3, 10)


def day_folder(landing: Path, day: dt.date = DAY) -> Path:
    path = landing / "events" / day.isoformat()
    path.mkdir(parents=True, exist_ok=True)
    return path


def jsonl(*events: dict) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def audit_fingerprint(con: duckdb.DuckDBPyConnection, day: dt.date) -> str:
    query = "select files_fingerprint from raw.load_audit where arrival_date = ?"
    return con.execute(query, [day]).fetchone()[0]


# ----------------------------------------------------------------------- (a) folder entries


def test_every_folder_entry_is_landed_or_skipped_with_a_reason(tmp_path):
    """Nothing in an arrival folder goes unnoticed: event files (any suffix case) are read
    and their lines counted, a plain-text file named .gz is read with a note, and everything
    else is in raw.landing_files with the reason it was skipped."""
    landing = tmp_path / "landing"
    folder = day_folder(landing)
    upper = jsonl(
        event("u1", "message", "2022-03-10T10:00:00Z"),
        event("u2", "message", "2022-03-10T10:01:00Z"),
    )
    plain_gz = jsonl(event("g1", "message", "2022-03-10T10:02:00Z")) + b"not json\n"
    (folder / "UPPER.JSONL").write_bytes(upper)
    (folder / "plain.jsonl.gz").write_bytes(plain_gz)
    (folder / "notes.txt").write_text("x\n")
    (folder / "data.csv").write_text("a,b\n")
    (folder / "old.jsonl.bz2").write_bytes(b"BZh9")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.jsonl").write_bytes(upper)
    (folder / "broken.jsonl").symlink_to(tmp_path / "no-such-file.jsonl")
    (folder / ".hidden.jsonl").write_bytes(upper)

    con = duckdb.connect()
    result = land_partition(con, landing, DAY)

    assert (result.files, result.files_skipped) == (2, 6)
    assert (result.lines_read, result.accepted, result.rejected) == (4, 3, 1)
    files = {
        row[0]: row[1:]
        for row in con.execute(
            "select file_name, is_landed, size_bytes, content_sha256, lines_read, note "
            "from raw.landing_files where arrival_date = ?",
            [DAY],
        ).fetchall()
    }
    assert sorted(files) == sorted(os.listdir(folder))  # every entry, once
    assert files["UPPER.JSONL"] == (True, len(upper), hashlib.sha256(upper).hexdigest(), 2, None)
    assert files["plain.jsonl.gz"] == (
        True,
        len(plain_gz),
        hashlib.sha256(plain_gz).hexdigest(),
        2,
        "named .gz but not gzip-compressed: read as plain text",
    )
    skipped = {name: row[4] for name, row in files.items() if not row[0]}
    assert skipped == {
        "notes.txt": "not an event file: .jsonl, .json or .ndjson (optionally .gz) are read",
        "data.csv": "not an event file: .jsonl, .json or .ndjson (optionally .gz) are read",
        "old.jsonl.bz2": "compressed as bz2: only gzip (.gz) files are read",
        "sub": "a sub-folder: its files are not read",
        "broken.jsonl": "a broken symbolic link",
        ".hidden.jsonl": "a hidden file: not read",
    }
    assert all(files[name][3] is None for name in skipped)  # no lines counted for them
    assert dict(result.skipped) == skipped
    assert result.notes == (("plain.jsonl.gz", files["plain.jsonl.gz"][4]),)
    # Nothing lost: the files' lines = lines read = raw.events + raw.quarantine.
    in_events, in_quarantine, in_files = con.execute(
        "select (select count(*) from raw.events), (select count(*) from raw.quarantine), "
        "(select sum(lines_read) from raw.landing_files where is_landed)"
    ).fetchone()
    assert in_files == result.lines_read == in_events + in_quarantine
    ids = {r[0] for r in con.execute("select event_id from raw.events").fetchall()}
    assert ids == {"u1", "u2", "g1"}
    assert "skipped_files=6" in result.summary()


# ------------------------------------------------------------------- (b) arrival-date folders


def test_only_real_dates_from_the_data_start_to_tomorrow_are_arrival_folders(tmp_path):
    """A folder is an arrival date only if named YYYY-MM-DD, a real date, not after tomorrow
    (UTC) and not before the data start (2022-02-04): the rest is ignored with the reason,
    so a typo never lands as a day far in the future or the past."""
    today = dt.date(2023, 5, 20)
    names = [
        "20230513",
        "2023-W19-7",
        "2023-02-30",
        "2099-01-01",
        "2023-05-22",  # the day after tomorrow
        "2023-05-21",  # tomorrow: in
        "2022-02-03",
        "2022-02-04",  # the data start: in
        "2023-05-13",
    ]
    for name in names:
        (tmp_path / "events" / name).mkdir(parents=True)
    folders = list_arrival_dates(tmp_path, load_rules(), today=today)
    assert folders.dates == [dt.date(2022, 2, 4), dt.date(2023, 5, 13), dt.date(2023, 5, 21)]
    not_a_date = "not an arrival-date folder (YYYY-MM-DD)"
    after = "arrival date after tomorrow (2023-05-20 UTC)"
    assert dict(folders.ignored) == {
        "20230513": not_a_date,
        "2023-W19-7": not_a_date,
        "2023-02-30": not_a_date,
        "2099-01-01": after,
        "2023-05-22": after,
        "2022-02-03": "arrival date before the data start 2022-02-04",
    }


# ---------------------------------------------------------------- (c) non-finite numbers

API = json.dumps(event("a1", "api_call", "2022-03-10T10:00:00Z", api_name="crm"))[:-1]
INTENT = json.dumps(event("i1", "intent_matched", "2022-03-10T10:00:00Z", intent="greet"))[:-1]
KPI = json.dumps(event("k1", "kpi_event", "2022-03-10T10:00:00Z", kpi_name="csat"))[:-1]
# Raw JSON text: json.dumps cannot write 1e400, and writes NaN bare.
NON_FINITE = [
    (API + ', "latency_ms": "Infinity"}', "latency_ms=Infinity"),
    (API + ', "latency_ms": 1e400}', "latency_ms=1e400"),
    (INTENT + ', "confidence": "NaN"}', "confidence=NaN"),
    (INTENT + ', "confidence": "inf"}', "confidence=inf"),
    (KPI + ', "value": "NaN"}', "value=NaN"),
    (KPI + ', "value": NaN}', "value=NaN"),
    (KPI + ', "value": 1e309}', "value=1e309"),
    (API + ', "status_code": "NaN"}', "status_code=NaN"),
]


@pytest.mark.parametrize(("line", "detail"), NON_FINITE, ids=[d for _, d in NON_FINITE])
def test_non_finite_numbers_are_quarantined_as_invalid_value(tmp_path, line, detail):
    """An infinite or NaN latency, confidence, KPI value or status code would poison every
    sum and average downstream: it is rejected like any other invalid value."""
    landing = tmp_path / "landing"
    (day_folder(landing) / "a.jsonl").write_text(line + "\n")
    con = duckdb.connect()
    result = land_partition(con, landing, DAY)
    assert (result.accepted, result.rejected) == (0, 1)
    assert con.execute("select reason, reason_detail, raw_line from raw.quarantine").fetchall() == [
        ("invalid_value", detail, line)
    ]


# ------------------------------------------------------------------------- (d) UTC offsets


def test_utc_offsets_beyond_14_hours_are_invalid_and_real_ones_convert_exactly(tmp_path):
    """Real UTC offsets stop at +14:00: +99:00, +14:30 or +15:00:00 is a typo (DuckDB would
    shift the event by days), while +14:00, -12:00 and -0530 are converted to UTC exactly."""
    landing = tmp_path / "landing"
    lines = [
        event("typo", "message", "2022-03-10T10:00:00+99:00"),
        event("past14", "message", "2022-03-10T10:00:00+14:30"),
        event("with_seconds", "message", "2022-03-10T10:00:00+15:00:00"),
        event("kiribati", "message", "2022-03-10T10:00:00+14:00"),
        event("baker", "message", "2022-03-10T10:00:00-12:00"),
        event("compact", "message", "2022-03-10T10:00:00-0530"),
    ]
    write_landing(landing, {DAY: lines})
    con = duckdb.connect()
    land_partition(con, landing, DAY)
    assert con.execute(
        "select reason, reason_detail from raw.quarantine order by line_number"
    ).fetchall() == [
        ("invalid_timestamp", "2022-03-10T10:00:00+99:00"),
        ("invalid_timestamp", "2022-03-10T10:00:00+14:30"),
        ("invalid_timestamp", "2022-03-10T10:00:00+15:00:00"),
    ]
    assert dict(con.execute("select event_id, occurred_at from raw.events").fetchall()) == {
        "kiribati": dt.datetime(2022, 3, 9, 20, 0),
        "baker": dt.datetime(2022, 3, 10, 22, 0),
        "compact": dt.datetime(2022, 3, 10, 15, 30),
    }


# --------------------------------------------------------------- (e) content fingerprint


def test_a_same_size_rewrite_with_the_old_mtime_changes_the_fingerprint(tmp_path):
    """The fingerprint follows content, not size and mtime: a file rewritten with other bytes
    of the same length, its modification time put back, still reads as changed (its change
    time moved, so the known hash is not reused, and the new content hashes differently)."""
    landing = tmp_path / "landing"
    folder = day_folder(landing)
    path = folder / "a.jsonl"
    path.write_bytes(jsonl(event("e1", "message", "2022-03-10T10:00:00Z")))
    con = duckdb.connect()
    land_partition(con, landing, DAY)
    landed = audit_fingerprint(con, DAY)
    known = known_files(con, DAY)
    before = os.stat(path)

    time.sleep(0.05)  # file times tick coarsely: make sure the change time moves
    path.write_bytes(jsonl(event("e2", "message", "2022-03-10T10:00:00Z")))  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    (entry,) = scan_folder(folder)
    assert (entry.stat.size, entry.stat.mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert entry.stat != known["a.jsonl"][0]

    assert folder_fingerprint([entry], known) != landed
    assert folder_fingerprint([entry]) != landed


def test_an_untouched_folder_is_fingerprinted_without_reading_its_files(tmp_path, monkeypatch):
    """With the stats and hashes recorded in raw.landing_files, checking whether a landed
    folder changed reads no file (it would read every byte of a big landing on every run)
    and gives the fingerprint recorded at landing."""
    landing = tmp_path / "landing"
    folder = day_folder(landing)
    (folder / "a.jsonl").write_bytes(jsonl(event("e1", "message", "2022-03-10T10:00:00Z")))
    (folder / "b.jsonl.gz").write_bytes(
        gzip.compress(jsonl(event("e2", "message", "2022-03-10T10:00:00Z")))
    )
    (folder / "readme.txt").write_text("skipped\n")
    con = duckdb.connect()
    land_partition(con, landing, DAY)
    landed = audit_fingerprint(con, DAY)
    assert folder_fingerprint(scan_folder(folder)) == landed  # reading every file agrees

    def no_reads(path):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(landing_module, "_sha256_file", no_reads)
    assert folder_fingerprint(scan_folder(folder), known_files(con, DAY)) == landed


# ------------------------------------------------------------ (f) unreadable arrival folder


def test_an_unreadable_arrival_folder_is_a_one_line_landing_error(tmp_path, monkeypatch):
    """A folder that cannot be listed must not land as an empty day (that would empty the
    date): landing refuses with one line and the previous rows stay."""
    landing = tmp_path / "landing"
    write_landing(landing, {DAY: [event("e1", "message", "2022-03-10T10:00:00Z")]})
    con = duckdb.connect()
    land_partition(con, landing, DAY)
    folder = day_folder(landing)
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(LandingError) as error:
        land_partition(con, landing, DAY)
    message = str(error.value)
    assert "\n" not in message
    assert message == f"cannot read arrival folder {folder}: Permission denied"
    assert con.execute("select event_id from raw.events").fetchall() == [("e1",)]
    assert con.execute("select count(*) from raw.load_history").fetchone()[0] == 1


# ----------------------------------------------------------- (g) duplicates of earlier days


def test_count_earlier_duplicates_counts_on_the_later_arrival_only(tmp_path):
    """An event delivered on day 1 and again on day 3 is an earlier-day duplicate of day 3
    only (staging keeps the day-1 copy), whatever order the days were landed in; the count
    is recorded on the current load of each date."""
    day1, day2, day3 = DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
    dup = event("dup", "message", "2022-03-10T10:00:00Z")
    landing = tmp_path / "landing"
    write_landing(
        landing,
        {
            day1: [dup, event("a", "message", "2022-03-10T11:00:00Z")],
            day2: [event("b", "message", "2022-03-11T11:00:00Z")],
            day3: [dup, event("c", "message", "2022-03-12T11:00:00Z")],
        },
    )
    con = duckdb.connect()
    for day in (day3, day1, day2):
        land_partition(con, landing, day)
    assert count_earlier_duplicates(con, [day1, day2, day3]) == {day1: 0, day2: 0, day3: 1}
    assert con.execute(
        "select arrival_date, duplicates_of_earlier_days from raw.load_audit order by 1"
    ).fetchall() == [(day1, 0), (day2, 0), (day3, 1)]
    # History: the current loads carry it too.
    assert con.execute(
        "select h.duplicates_of_earlier_days from raw.load_history as h "
        "join raw.load_audit as a using (load_id) where a.arrival_date = ?",
        [day3],
    ).fetchone() == (1,)


# ------------------------------------------------------------------------ (h) remove_dates


def test_remove_dates_empties_a_date_as_a_new_load(tmp_path):
    """A full refresh removes the rows of dates no longer landed as a new, empty load of each
    (a tombstone), so the build sees the removal: events_replaced is the rows it had."""
    other = DAY + dt.timedelta(days=1)
    landing = tmp_path / "landing"
    write_landing(
        landing,
        {
            DAY: [event(f"e{i}", "message", "2022-03-10T10:00:00Z") for i in range(3)] + ["bad"],
            other: [event("o", "message", "2022-03-11T10:00:00Z")],
        },
    )
    con = duckdb.connect()
    first = land_partition(con, landing, DAY)
    kept = land_partition(con, landing, other)

    rules, checks = load_rules(), load_check_settings()
    assert remove_dates(con, [other], rules, checks) == [DAY]

    row = con.execute(
        "select load_id, lines_read, accepted, rejected, events_replaced, has_changed_rows "
        "from raw.load_audit where arrival_date = ?",
        [DAY],
    ).fetchone()
    assert row[0] > kept.load_id > first.load_id
    assert row[1:] == (0, 0, 0, 3, True)
    for table in ("raw.events", "raw.quarantine", "raw.landing_files"):
        count = con.execute(f"select count(*) from {table} where arrival_date = ?", [DAY])
        assert count.fetchone()[0] == 0, table
    history = con.execute(
        "select load_id, accepted from raw.load_history where arrival_date = ? order by 1", [DAY]
    ).fetchall()
    assert history == [(first.load_id, 3), (row[0], 0)]
    assert con.execute(
        "select load_id from raw.load_audit where arrival_date = ?", [other]
    ).fetchone() == (kept.load_id,)
    assert con.execute("select event_id from raw.events").fetchall() == [("o",)]


def test_an_unreadable_event_file_does_not_make_its_date_pending_forever(tmp_path, monkeypatch):
    """A file that cannot be read lands as one unreadable_file row; as long as nothing in
    the folder changes, the fingerprint `botmeter run` computes must equal the landed one."""
    landing = tmp_path / "landing"
    folder = day_folder(landing)
    (folder / "a.jsonl").write_bytes(jsonl(event("e1", "message", "2022-03-10T10:00:00Z")))
    real_read_bytes = Path.read_bytes

    def read_bytes(path):
        if path.name == "a.jsonl":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_bytes(path)

    def sha256_file(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(landing_module, "_sha256_file", sha256_file)
    con = duckdb.connect()
    result = land_partition(con, landing, DAY)
    assert result.rejected_by_reason == {"unreadable_file": 1}
    landed = audit_fingerprint(con, DAY)
    assert folder_fingerprint(scan_folder(folder), known_files(con, DAY)) == landed

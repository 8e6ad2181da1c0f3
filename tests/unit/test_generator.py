"""Tests for the synthetic event generator (tools/generator.py).

One small dataset is generated per module and inspected from several angles; the
contract checked here is what downstream models rely on.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tools.generator import EVENT_TYPES, REQUIRED_FIELDS, generate

START = dt.date(2022, 3, 1)  # a Tuesday: 5 days include Saturday
DAYS = 5
EVENTS_PER_DAY = 1500

EVENT_ID = re.compile(r"^evt_[0-9a-f]{16}$")
CONVERSATION_ID = re.compile(r"^conv_[0-9a-f]{16}$")
TICKET_ID = re.compile(r"^tkt_[0-9a-f]{16}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
CHANNELS = {"web", "whatsapp", "messenger", "sms", "slack", "teams"}
CONVERSATION_TYPES = {
    "conversation_started",
    "conversation_closed",
    "message",
    "intent_matched",
    "api_call",
    "ticket_created",
    "kpi_event",
}


def read_lines(root: Path) -> list[tuple[dt.date, Path, str]]:
    """(arrival folder date, file, raw line) for every line written."""
    out = []
    for path in sorted((root / "events").glob("*/part-*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            day = dt.date.fromisoformat(path.parent.name)
            out += [(day, path, line.rstrip("\n")) for line in fh]
    return out


def parse_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def malformed_kind(raw: str) -> str | None:
    """Why a line is unusable, or None when it is a valid event."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError:
        return "truncated_json"
    if not isinstance(obj, dict):
        return "json_array"
    if any(field not in obj for field in REQUIRED_FIELDS):
        return "missing_field"
    if obj["event_type"] not in EVENT_TYPES:
        return "unknown_type"
    try:
        parse_ts(obj["occurred_at"])
    except ValueError:
        return "bad_timestamp"
    return None


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    summary = generate(root, START, DAYS, seed=7, events_per_day=EVENTS_PER_DAY)
    lines = read_lines(root)
    events = []  # (arrival, path, raw, obj, occurred)
    for arrival, path, raw in lines:
        if malformed_kind(raw) is None:
            obj = json.loads(raw)
            events.append((arrival, path, raw, obj, parse_ts(obj["occurred_at"])))
    return root, summary, lines, events


@pytest.fixture(scope="module")
def distinct(dataset):
    """First copy of each event id, keyed by id."""
    out = {}
    for arrival, _path, _raw, obj, occurred in sorted(dataset[3], key=lambda e: e[0]):
        out.setdefault(obj["event_id"], (arrival, obj, occurred))
    return out


# --- determinism and layout ----------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    kwargs = dict(start=START, days=3, events_per_day=400)
    a = generate(tmp_path / "a", seed=1, **kwargs)
    b = generate(tmp_path / "b", seed=1, **kwargs)
    c = generate(tmp_path / "c", seed=2, **kwargs)
    assert a.events == b.events and a.lines == b.lines
    for fa, fb in zip(a.files, b.files, strict=True):
        assert fa.relative_to(tmp_path / "a") == fb.relative_to(tmp_path / "b")
        assert fa.read_bytes() == fb.read_bytes()
    assert any(fa.read_bytes() != fc.read_bytes() for fa, fc in zip(a.files, c.files, strict=True))
    ids_a, ids_c = (
        {
            json.loads(r)["event_id"]
            for *_x, r in read_lines(tmp_path / name)
            if malformed_kind(r) is None
        }
        for name in "ac"
    )
    assert ids_a and ids_c and not ids_a & ids_c


def test_split_date_range_reproduces_events_without_id_collisions(tmp_path):
    def lines(name, start, days):
        generate(tmp_path / name, start, days, seed=5, events_per_day=300)
        return {r for *_x, r in read_lines(tmp_path / name) if malformed_kind(r) is None}

    full = lines("full", START, 4)
    first, second = lines("first", START, 2), lines("second", START + dt.timedelta(days=2), 2)
    assert second <= full  # same events, byte for byte
    ids = [{json.loads(r)["event_id"] for r in part} for part in (first, second)]
    assert not ids[0] & ids[1]


def test_layout_one_folder_per_arrival_day(dataset):
    root, summary, *_ = dataset
    folders = sorted(p.name for p in (root / "events").iterdir())
    assert folders == [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]
    on_disk = sorted((root / "events").glob("*/*"))
    assert sorted(summary.files) == on_disk
    assert [p.name for p in on_disk[:2]] == ["part-000.jsonl.gz", "part-001.jsonl.gz"]
    assert len(on_disk) == DAYS * 2
    assert summary.days == DAYS


def test_plain_output_has_same_lines_and_replaces_stale_parts(tmp_path, dataset):
    root, summary, lines, _ = dataset
    plain = generate(tmp_path, START, DAYS, seed=7, events_per_day=EVENTS_PER_DAY, gzip_files=False)
    assert all(p.suffix == ".jsonl" for p in plain.files)
    assert [r for *_x, r in read_lines(tmp_path)] == [r for *_x, r in lines]
    generate(tmp_path, START, DAYS, seed=7, events_per_day=EVENTS_PER_DAY)  # gzip again
    assert {p.suffix for p in (tmp_path / "events").glob("*/*")} == {".gz"}


# --- counts ------------------------------------------------------------------------


def test_summary_counts_match_files(dataset, distinct):
    _root, summary, lines, events = dataset
    kinds = Counter(malformed_kind(raw) for *_x, raw in lines)
    assert summary.lines == len(lines)
    assert summary.malformed == len(lines) - kinds[None] == DAYS * 3
    assert summary.events == len(distinct)
    assert summary.duplicates == len(events) - len(distinct) > 0
    late = sum(
        arrival > occurred.astimezone(dt.UTC).date()
        for arrival, _obj, occurred in distinct.values()
    )
    assert summary.late == late > 0
    assert 0.85 < summary.events / (DAYS * EVENTS_PER_DAY) < 1.2
    assert summary.conversations > 0


def test_malformed_lines_cycle_through_all_kinds(dataset):
    kinds = Counter(malformed_kind(raw) for *_x, raw in dataset[2])
    del kinds[None]
    assert kinds == dict.fromkeys(
        ["truncated_json", "json_array", "missing_field", "unknown_type", "bad_timestamp"], 3
    )


def test_no_noise_when_fractions_are_zero(tmp_path):
    s = generate(
        tmp_path,
        START,
        3,
        events_per_day=300,
        late_fraction=0,
        duplicate_fraction=0,
        malformed_lines_per_day=0,
        files_per_day=1,
    )
    assert (s.late, s.duplicates, s.malformed) == (0, 0, 0)
    assert s.lines == s.events == len(read_lines(tmp_path))
    assert len(s.files) == 3


def test_invalid_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, START, 0)
    with pytest.raises(ValueError):
        generate(tmp_path, START, 1, late_fraction=1.5)


# --- schema ------------------------------------------------------------------------


def check_event(obj: dict) -> None:
    for field in REQUIRED_FIELDS:
        assert isinstance(obj[field], str) and obj[field], field
    assert EVENT_ID.match(obj["event_id"])
    assert TIMESTAMP.match(obj["occurred_at"]), obj["occurred_at"]
    assert obj["channel"] in CHANNELS
    assert obj["customer_id"].startswith("cus_")
    assert obj["account_id"].startswith("acc_")
    assert obj["bot_id"].startswith("bot_" + obj["account_id"][4:] + "_")
    assert VERSION.match(obj.get("bot_version", "1.0.0"))
    assert isinstance(obj.get("bot_name", ""), str)
    assert isinstance(obj.get("properties", {}), dict)
    etype, actor = obj["event_type"], obj.get("actor")
    if etype == "impression":
        assert obj["page_url"].startswith("https://")
        assert "conversation_id" not in obj and actor in (None, "user")
        return
    assert etype in CONVERSATION_TYPES
    assert CONVERSATION_ID.match(obj["conversation_id"])
    if etype in ("conversation_started", "conversation_closed", "message"):
        assert actor in ("user", "bot", "agent", "system")
    elif etype == "intent_matched":
        assert actor == "bot" and isinstance(obj["intent"], str)
        assert isinstance(obj["confidence"], float | int) and 0 <= obj["confidence"] <= 1
        assert isinstance(obj.get("is_fallback", False), bool)
    elif etype == "api_call":
        assert actor == "system" and isinstance(obj["api_name"], str)
        assert isinstance(obj.get("status_code", 200), int)
        assert isinstance(obj["latency_ms"], int) and obj["latency_ms"] >= 0
    elif etype == "ticket_created":
        assert actor in ("agent", "system") and TICKET_ID.match(obj["ticket_id"])
    elif etype == "kpi_event":
        assert obj["kpi_name"] in (
            "order_tracked",
            "appointment_booked",
            "faq_resolved",
            "lead_captured",
            "payment_completed",
        )
        assert isinstance(obj.get("value", 0), float | int)


def test_every_valid_line_matches_the_contract(dataset):
    events = dataset[3]
    for *_x, obj, _occurred in events:
        check_event(obj)
    types = Counter(obj["event_type"] for *_x, obj, _o in events)
    assert set(types) == set(EVENT_TYPES)
    assert types["message"] > types["conversation_started"] > types["ticket_created"]


def test_optional_fields_vary(dataset):
    objs = [obj for *_x, obj, _o in dataset[3]]
    api = [o for o in objs if o["event_type"] == "api_call"]
    assert any(o.get("status_code", 0) >= 400 for o in api)
    assert any("status_code" not in o for o in api)
    assert 0 < sum("bot_name" in o for o in objs) < len(objs)
    assert 0 < sum("bot_version" in o for o in objs) < len(objs)
    impressions = [o for o in objs if o["event_type"] == "impression"]
    assert 0 < sum(o.get("actor") == "user" for o in impressions) < len(impressions)
    offsets = [o for o in objs if not o["occurred_at"].endswith("Z")]
    assert 0.02 < len(offsets) / len(objs) < 0.08


# --- arrival, duplicates and time bounds --------------------------------------------


def test_timestamps_within_bounds(dataset):
    first = dt.datetime.combine(START, dt.time(), tzinfo=dt.UTC)
    last = first + dt.timedelta(days=DAYS)
    for arrival, _path, _raw, _obj, occurred in dataset[3]:
        assert first <= occurred < last
        arrival_end = dt.datetime.combine(arrival, dt.time(), tzinfo=dt.UTC) + dt.timedelta(1)
        assert occurred <= arrival_end + dt.timedelta(hours=24)
        assert occurred.astimezone(dt.UTC).date() <= arrival


def test_late_events_land_in_later_folders(distinct):
    lag = Counter(
        (arrival - occurred.astimezone(dt.UTC).date()).days
        for arrival, _obj, occurred in distinct.values()
    )
    assert lag[0] > 0.9 * len(distinct)
    assert lag[1] and lag[2]
    assert max(lag) <= 3


def test_duplicates_are_identical_and_spread(dataset):
    copies = defaultdict(list)
    for arrival, path, raw, obj, _occurred in dataset[3]:
        copies[obj["event_id"]].append((arrival, path, raw))
    dups = {k: v for k, v in copies.items() if len(v) > 1}
    assert dups
    assert all(len({raw for *_x, raw in v}) == 1 for v in dups.values())
    assert any(v[0][1] == v[1][1] for v in dups.values())  # same file
    assert any(v[0][0] != v[1][0] for v in dups.values())  # next arrival day


def test_files_are_not_sorted_by_time(dataset):
    by_file = defaultdict(list)
    for _arrival, path, _raw, _obj, occurred in dataset[3]:
        by_file[path].append(occurred)
    for times in by_file.values():
        assert times != sorted(times)


# --- realism -----------------------------------------------------------------------


def test_conversations_span_sessions_and_midnight(distinct):
    user_msgs = defaultdict(list)
    spans = defaultdict(list)
    for _arrival, obj, occurred in distinct.values():
        if "conversation_id" in obj:
            spans[obj["conversation_id"]].append(occurred)
        if obj["event_type"] == "message" and obj["actor"] == "user":
            user_msgs[obj["conversation_id"]].append(occurred)
    gaps = [
        b - a
        for times in user_msgs.values()
        for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    long_share = sum(g >= dt.timedelta(minutes=10) for g in gaps) / len(gaps)
    assert 0.12 < long_share < 0.3
    assert any(
        min(t).astimezone(dt.UTC).date() != max(t).astimezone(dt.UTC).date() for t in spans.values()
    )


def test_customer_switches_channel_within_minutes(distinct):
    starts = defaultdict(list)
    for _arrival, obj, occurred in distinct.values():
        if obj["event_type"] == "conversation_started":
            starts[obj["customer_id"]].append((occurred, obj["channel"]))
    switches = 0
    for items in starts.values():
        items.sort()
        switches += sum(
            b[0] - a[0] <= dt.timedelta(minutes=10) and a[1] != b[1]
            for a, b in zip(items, items[1:], strict=False)
        )
    assert switches > 0
    customers_per_day = defaultdict(set)
    for _arrival, obj, occurred in distinct.values():
        customers_per_day[obj["customer_id"]].add(occurred.astimezone(dt.UTC).date())
    assert sum(len(d) > 1 for d in customers_per_day.values()) > 10  # returning customers


def test_traffic_rhythm_and_heavy_visitors(distinct):
    per_day = Counter(occurred.astimezone(dt.UTC).date() for _a, _o, occurred in distinct.values())
    saturday = per_day[dt.date(2022, 3, 5)]
    weekdays = [per_day[START + dt.timedelta(days=i)] for i in range(4)]
    assert saturday < 0.9 * min(weekdays)
    hours = Counter(occurred.astimezone(dt.UTC).hour for _a, _o, occurred in distinct.values())
    assert sum(hours[h] for h in range(12, 18)) > 2 * sum(hours[h] for h in range(0, 6))
    loads = Counter(
        (obj["customer_id"], obj["page_url"], occurred.astimezone(dt.UTC).date())
        for _a, obj, occurred in distinct.values()
        if obj["event_type"] == "impression"
    )
    assert max(loads.values()) >= 20  # someone reloads a page hourly


def test_accounts_bots_and_versions(tmp_path):
    summary = generate(tmp_path, START, 30, seed=3, events_per_day=200, files_per_day=1)
    assert summary.days == 30
    bots_by_account = defaultdict(set)
    versions = defaultdict(set)
    for *_x, raw in read_lines(tmp_path):
        if malformed_kind(raw) is None:
            obj = json.loads(raw)
            bots_by_account[obj["account_id"]].add(obj["bot_id"])
            if "bot_version" in obj:
                versions[obj["bot_id"]].add(obj["bot_version"])
    assert 3 <= len(bots_by_account) <= 5
    assert all(1 <= len(bots) <= 4 for bots in bots_by_account.values())
    assert any(len(v) > 1 for v in versions.values())

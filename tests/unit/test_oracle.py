"""Hand-computed edge cases for the plain-Python oracle (tests/oracle)."""

from __future__ import annotations

import math
import random
import time
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

try:
    from tests import oracle
except ModuleNotFoundError:  # plain `pytest` puts tests/ (not the project root) on sys.path
    import oracle

T0 = datetime(2024, 3, 1, 10, 0, 0)


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


def ev(
    event_id: str,
    occurred_at: datetime,
    actor: str | None = "user",
    event_type: str = "message",
    customer_id: str = "c1",
    bot_id: str = "b1",
    account_id: str = "a1",
    channel: str = "web",
    **extra,
) -> dict:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "account_id": account_id,
        "bot_id": bot_id,
        "channel": channel,
        "customer_id": customer_id,
        "actor": actor,
        **extra,
    }


def imp(event_id: str, occurred_at: datetime, page_url: str = "/home", **kw) -> dict:
    return ev(event_id, occurred_at, event_type="impression", page_url=page_url, **kw)


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def starts(frame: pd.DataFrame) -> list[datetime]:
    return [ts.to_pydatetime() for ts in frame["session_start_at"]]


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


def test_gap_of_exactly_timeout_starts_a_new_session():
    events = [ev("e1", at()), ev("e2", at(minutes=10))]
    out = oracle.sessions(events)
    assert starts(out) == [at(), at(minutes=10)]
    assert list(out["user_event_count"]) == [1, 1]
    explain = records(oracle.explain_sessions(events))
    assert [r["new_session_reason"] for r in explain] == ["first_activity", "inactivity_gap"]
    assert math.isnan(explain[0]["gap_seconds"])
    assert explain[1]["gap_seconds"] == 600.0


def test_gap_just_under_timeout_continues_the_session():
    events = [ev("e1", at()), ev("e2", at(minutes=9, seconds=59, milliseconds=999))]
    out = records(oracle.sessions(events))
    assert len(out) == 1
    assert out[0]["session_start_at"] == at()
    assert out[0]["session_end_at"] == at(minutes=9, seconds=59, milliseconds=999)
    assert out[0]["user_event_count"] == 2
    explain = records(oracle.explain_sessions(events))
    assert pd.isna(explain[1]["new_session_reason"])
    assert explain[1]["session_start_at"] == at()
    assert explain[1]["gap_seconds"] == pytest.approx(599.999)


def test_bot_messages_inside_a_gap_do_not_extend_the_session():
    events = [
        ev("u1", at(), conversation_id="k1"),
        ev("b1", at(minutes=8), actor="bot", conversation_id="k2"),
        ev("s1", at(minutes=9), actor="system", conversation_id="k2"),
        ev("b2", at(minutes=12), actor="bot", conversation_id="k3"),  # window closed at 10:10
        ev("u2", at(minutes=15), conversation_id="k4"),
    ]
    out = records(oracle.sessions(events))
    assert [r["session_start_at"] for r in out] == [at(), at(minutes=15)]
    assert out[0]["session_end_at"] == at()  # only user events end a session
    assert out[0]["conversations"] == ("k1", "k2")
    assert out[1]["conversations"] == ("k4",)  # b2 belongs to no session
    # Bot/system events alone never start sessions.
    assert oracle.sessions([ev("b", at(), actor="bot"), ev("s", at(), actor="system")]).empty


def test_impressions_by_users_neither_start_nor_extend_sessions():
    only_impression = [imp("i1", at(), actor="user")]
    assert oracle.sessions(only_impression).empty
    assert oracle.explain_sessions(only_impression).empty

    events = [
        ev("u1", at()),
        imp("i1", at(minutes=5), actor="user", conversation_id="k-imp"),
        ev("u2", at(minutes=14)),
    ]
    out = records(oracle.sessions(events))
    assert [r["session_start_at"] for r in out] == [at(), at(minutes=14)]
    assert out[0]["conversations"] == ()  # impressions never belong to a session
    assert out[0]["user_event_count"] == 1


def test_session_crossing_midnight_is_one_session_dated_by_its_start():
    day1 = datetime(2024, 3, 1, 23, 55)
    events = [ev("u1", day1), ev("u2", day1 + timedelta(minutes=8))]
    out = records(oracle.sessions(events))
    assert len(out) == 1
    assert out[0]["session_date"] == date(2024, 3, 1)
    assert out[0]["session_end_at"] == datetime(2024, 3, 2, 0, 3)
    daily = records(oracle.sessions_daily_total(events))
    assert daily == [
        {
            "session_date": date(2024, 3, 1),
            "account_id": "a1",
            "bot_id": "b1",
            "sessions": 1,
            "tickets": 0,
        }
    ]
    usage = records(oracle.usage_daily(events))
    assert [(r["event_date"], r["sessions"], r["user_messages"]) for r in usage] == [
        (date(2024, 3, 1), 1, 1),
        (date(2024, 3, 2), 0, 1),
    ]


def test_multi_channel_session_counts_once_in_each_channel():
    events = [
        ev("u2", at(), channel="whatsapp"),
        ev("u1", at(), channel="web"),  # same instant: event_id order makes u1 first
        ev("u3", at(minutes=3), channel="web"),
        ev("t1", at(minutes=4), actor="system", event_type="ticket_created", ticket_id="T1"),
        ev("x1", at(hours=2), customer_id="c2", channel="web"),
    ]
    out = records(oracle.sessions(events))
    first = out[0]
    assert first["channels"] == ("web", "whatsapp")
    assert first["channel_count"] == 2
    assert first["first_channel"] == "web"
    assert first["tickets"] == ("T1",)
    daily = records(oracle.sessions_daily(events))
    assert [(r["channel"], r["sessions"], r["tickets"]) for r in daily] == [
        ("web", 2, 1),
        ("whatsapp", 1, 1),
    ]
    total = records(oracle.sessions_daily_total(events))
    assert [(r["sessions"], r["tickets"]) for r in total] == [(2, 1)]
    monthly = records(oracle.sessions_monthly(events))
    assert [(r["session_month"], r["channel"], r["sessions"]) for r in monthly] == [
        (date(2024, 3, 1), "web", 2),
        (date(2024, 3, 1), "whatsapp", 1),
    ]
    monthly_total = records(oracle.sessions_monthly_total(events))
    assert [(r["session_month"], r["sessions"], r["tickets"]) for r in monthly_total] == [
        (date(2024, 3, 1), 2, 1)
    ]


@pytest.mark.parametrize(
    ("ticket_at", "inside"),
    [
        (at(minutes=9, seconds=59, milliseconds=999), True),
        (at(minutes=10), False),  # window end is exclusive
        (at(minutes=10, milliseconds=1), False),
        (at(minutes=-1), False),  # before the first user event
    ],
)
def test_ticket_belongs_to_a_session_only_inside_its_window(ticket_at, inside):
    events = [
        ev("u1", at()),
        ev("t1", ticket_at, actor="system", event_type="ticket_created", ticket_id="T1"),
    ]
    session = records(oracle.sessions(events))[0]
    ticket = records(oracle.tickets(events))[0]
    assert session["ticket_count"] == (1 if inside else 0)
    if inside:
        assert ticket["session_start_at"] == at()
    else:
        assert pd.isna(ticket["session_start_at"])
    containment = records(oracle.containment_daily(events))[0]
    assert containment["sessions_with_ticket"] == (1 if inside else 0)
    assert containment["containment_rate"] == (0.0 if inside else 1.0)
    assert containment["escalation_rate"] == (1.0 if inside else 0.0)


def test_same_customer_on_two_bots_has_separate_sessions():
    events = [
        ev("u1", at(), bot_id="b1", bot_name="Sales", bot_version="1.0"),
        ev("u2", at(minutes=2), bot_id="b2", bot_name="Support", bot_version="2.0"),
        ev("u3", at(minutes=4), bot_id="b1", bot_name="Sales", bot_version="1.1"),
        ev("k", at(minutes=5), actor="bot", bot_id="b2", conversation_id="conv-b2"),
    ]
    out = records(oracle.sessions(events))
    summary = [
        (r["bot_id"], r["session_start_at"], r["user_event_count"], r["bot_version"]) for r in out
    ]
    assert summary == [("b1", at(), 2, "1.0"), ("b2", at(minutes=2), 1, "2.0")]
    assert out[0]["conversations"] == ()
    assert out[1]["conversations"] == ("conv-b2",)


def test_conversation_spanning_two_sessions_and_session_spanning_two_conversations():
    events = [
        ev("u1", at(), conversation_id="A"),
        ev("b1", at(minutes=1), actor="bot", conversation_id="A"),
        ev("u2", at(minutes=3), conversation_id="B"),
        ev("u3", at(minutes=30), conversation_id="A"),
        ev(
            "t1",
            at(minutes=31),
            actor="agent",
            event_type="ticket_created",
            conversation_id="A",
            ticket_id="T1",
        ),
        imp("i1", at(hours=5), conversation_id="A"),  # impressions don't touch conversations
    ]
    out = records(oracle.sessions(events))
    assert [(r["conversation_count"], r["conversations"]) for r in out] == [
        (2, ("A", "B")),
        (1, ("A",)),
    ]
    pairs = records(oracle.session_conversations(events))
    assert [(r["session_start_at"], r["conversation_id"]) for r in pairs] == [
        (at(), "A"),
        (at(), "B"),
        (at(minutes=30), "A"),
    ]
    convs = records(oracle.conversations(events))
    assert convs == [
        {
            "conversation_id": "A",
            "conversation_created_at": at(),
            "conversation_updated_at": at(minutes=31),
            "session_count": 2,
            "ticket_count": 1,
        },
        {
            "conversation_id": "B",
            "conversation_created_at": at(minutes=3),
            "conversation_updated_at": at(minutes=3),
            "session_count": 1,
            "ticket_count": 0,
        },
    ]


def test_timeout_parameter_changes_the_result():
    events = [ev("u1", at()), ev("u2", at(minutes=15)), ev("u3", at(minutes=40))]
    assert len(oracle.sessions(events)) == 3
    assert starts(oracle.sessions(events, timeout_minutes=20)) == [at(), at(minutes=40)]
    assert starts(oracle.sessions(events, timeout_minutes=25)) == [at(), at(minutes=40)]
    assert len(oracle.sessions(events, timeout_minutes=26)) == 1
    # A ticket 20 minutes after the last user event: outside at 10 min, inside at 30 min.
    ticket = ev("t", at(minutes=60), actor="system", event_type="ticket_created", ticket_id="T")
    assert pd.isna(records(oracle.tickets(events + [ticket]))[0]["session_start_at"])
    with_30 = records(oracle.tickets(events + [ticket], timeout_minutes=30))[0]
    assert with_30["session_start_at"] == at()


def test_duplicate_ticket_created_keeps_the_earliest():
    events = [
        ev("u1", at()),
        ev(
            "t2",
            at(minutes=1),
            actor="agent",
            event_type="ticket_created",
            ticket_id="T",
            channel="email",
            conversation_id="c-late",
        ),
        ev(
            "t1",
            at(minutes=1),
            actor="agent",
            event_type="ticket_created",
            ticket_id="T",
            channel="web",
            conversation_id="c-early",
        ),
    ]
    out = records(oracle.tickets(events))
    assert len(out) == 1
    assert out[0]["conversation_id"] == "c-early"  # same instant: smaller event_id wins
    assert out[0]["channel"] == "web"
    assert records(oracle.sessions(events))[0]["ticket_count"] == 1


# --------------------------------------------------------------------------------------
# Impressions
# --------------------------------------------------------------------------------------


def unique_ids(events: list[dict], **kw) -> list[str]:
    out = oracle.impressions(events, **kw)
    return list(out.loc[out["is_unique"], "impression_id"])


def test_impression_exactly_one_window_later_is_a_new_unique():
    events = [imp("i1", at()), imp("i2", at(hours=24))]
    assert unique_ids(events) == ["i1", "i2"]


def test_impression_just_before_window_end_is_not_unique_and_windows_are_anchored():
    events = [
        imp("i1", at()),
        imp("i2", at(hours=23, minutes=59, seconds=59, milliseconds=999)),
        imp("i3", at(hours=24)),  # 1 ms after i2: still new, the window is anchored on i1
    ]
    out = records(oracle.impressions(events))
    assert [(r["impression_id"], r["unique_impression_id"], r["is_unique"]) for r in out] == [
        ("i1", "i1", True),
        ("i2", "i1", False),
        ("i3", "i3", True),
    ]


def test_hourly_loads_for_72_hours_give_three_unique_impressions():
    events = [imp(f"i{h:02d}", at(hours=h)) for h in range(72)]
    out = oracle.impressions(events)
    assert unique_ids(events) == ["i00", "i24", "i48"]
    assert set(out["unique_impression_id"]) == {"i00", "i24", "i48"}
    assert list(out["unique_impression_id"][:25]) == ["i00"] * 24 + ["i24"]
    # A 6-hour window re-anchors every 6 loads.
    assert len(unique_ids(events, window_hours=6)) == 12
    daily = records(oracle.impressions_daily(events))
    # T0 is 10:00, so day 1 holds hours 0-13, days 2-3 hold 24 loads, day 4 holds 10.
    assert [(r["impression_date"], r["impressions"], r["unique_impressions"]) for r in daily] == [
        (date(2024, 3, 1), 14, 1),
        (date(2024, 3, 2), 24, 1),
        (date(2024, 3, 3), 24, 1),
        (date(2024, 3, 4), 10, 0),
    ]


def test_two_pages_of_a_visitor_are_independent():
    events = [
        imp("a1", at(), page_url="/a"),
        imp("b1", at(hours=1), page_url="/b"),
        imp("a2", at(hours=2), page_url="/a"),
        imp("b2", at(hours=25), page_url="/b"),
        imp("c1", at(hours=2), page_url="/a", customer_id="c2"),
    ]
    assert sorted(unique_ids(events)) == ["a1", "b1", "b2", "c1"]
    daily = records(oracle.impressions_daily(events))
    assert [
        (r["impression_date"], r["page_url"], r["impressions"], r["unique_impressions"])
        for r in daily
    ] == [
        (date(2024, 3, 1), "/a", 3, 2),
        (date(2024, 3, 1), "/b", 1, 1),
        (date(2024, 3, 2), "/b", 1, 1),
    ]


def test_late_arriving_earlier_impression_changes_which_load_is_unique():
    events = [imp("i1", at()), imp("i2", at(hours=23))]
    assert unique_ids(events) == ["i1"]
    late = imp("i0", at(hours=-2))  # window [08:00, next day 08:00)
    assert unique_ids(events + [late]) == ["i0", "i2"]
    out = records(oracle.impressions(events + [late]))
    assert [r["unique_impression_id"] for r in out] == ["i0", "i0", "i2"]


def test_usage_daily_counts_unique_impressions_by_their_own_date():
    # i1 Mar 1 23:00 (unique, window to Mar 2 23:00), i2 Mar 2 06:00 (plain),
    # i3 Mar 3 02:00 (unique).
    events = [imp("i1", at(hours=13)), imp("i2", at(hours=20)), imp("i3", at(hours=40))]
    usage = records(oracle.usage_daily(events))
    assert [(r["event_date"], r["unique_impressions"]) for r in usage] == [
        (date(2024, 3, 1), 1),
        (date(2024, 3, 2), 0),
        (date(2024, 3, 3), 1),
    ]


# --------------------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------------------


def raw(event_id, occurred_at, arrival, source_file, line_number, **kw) -> dict:
    row = ev(event_id, occurred_at, **kw)
    row.update(arrival_date=arrival, source_file=source_file, line_number=line_number)
    return row


def test_staging_earliest_arrival_wins_with_file_and_line_tie_breaks():
    rows = [
        raw("e1", at(), date(2024, 3, 2), "a.jsonl", 1, channel="late-day"),
        raw("e1", at(), date(2024, 3, 1), "b.jsonl", 9, channel="early-day"),
        raw("e2", at(), date(2024, 3, 1), "b.jsonl", 1, channel="file-b"),
        raw("e2", at(), date(2024, 3, 1), "a.jsonl", 7, channel="file-a"),
        raw("e3", at(), date(2024, 3, 1), "a.jsonl", 5, channel="line-5"),
        raw("e3", at(), date(2024, 3, 1), "a.jsonl", 3, channel="line-3"),
    ]
    staged = oracle.stage(rows)
    assert {r["event_id"]: r["channel"] for r in staged} == {
        "e1": "early-day",
        "e2": "file-a",
        "e3": "line-3",
    }
    # The result is valid staged input.
    assert len(oracle.sessions(staged)) == 1


def test_staging_drops_events_before_2022_02_04():
    boundary = datetime(2022, 2, 4)
    rows = [
        raw("old", boundary - timedelta(milliseconds=1), date(2022, 2, 4), "f", 1),
        raw("new", boundary, date(2022, 2, 4), "f", 2),
    ]
    assert [r["event_id"] for r in oracle.stage(rows)] == ["new"]


def test_staging_dedups_before_applying_the_cutoff():
    boundary = datetime(2022, 2, 4)
    rows = [
        raw("e", boundary - timedelta(seconds=1), date(2022, 2, 4), "f", 1),  # winner: too old
        raw("e", boundary + timedelta(seconds=1), date(2022, 2, 5), "f", 1),
    ]
    assert oracle.stage(rows) == []


def test_staging_accepts_a_dataframe():
    rows = [
        raw("e1", at(), date(2024, 3, 1), "f", 2),
        raw("e1", at(), date(2024, 3, 1), "f", 1, intent="hi"),
    ]
    staged = oracle.stage(pd.DataFrame(rows))
    assert len(staged) == 1
    assert staged[0]["intent"] == "hi"
    assert isinstance(staged[0]["occurred_at"], datetime)


# --------------------------------------------------------------------------------------
# Intents, API calls, usage
# --------------------------------------------------------------------------------------


def test_intents_daily():
    events = [
        ev("u1", at(), conversation_id="k1"),
        ev(
            "n1",
            at(seconds=1),
            actor="bot",
            event_type="intent_matched",
            intent="greet",
            confidence=0.9,
            is_fallback=False,
            conversation_id="k1",
            bot_version="1",
        ),
        ev(
            "n2",
            at(seconds=2),
            actor="bot",
            event_type="intent_matched",
            intent="greet",
            confidence=0.4,
            is_fallback=True,
            conversation_id="k2",
            bot_version="1",
        ),
        ev(
            "n3",
            at(hours=1),
            actor="bot",
            event_type="intent_matched",
            intent="greet",
            confidence=None,
            conversation_id=None,
            bot_version="1",
        ),  # outside every session
        ev(
            "n4",
            at(hours=2),
            actor="bot",
            event_type="intent_matched",
            intent="greet",
            confidence=0.2,
            conversation_id="k1",
            bot_version="1",
        ),
        ev(
            "n5",
            at(seconds=3),
            actor="bot",
            event_type="intent_matched",
            intent="fallback",
            confidence=0.6,
            bot_version="1",
        ),
        ev(
            "n6",
            at(seconds=4),
            actor="bot",
            event_type="intent_matched",
            intent="greet",
            confidence=0.7,
            bot_version="2",
        ),
    ]
    out = records(oracle.intents_daily(events))
    by_key = {(r["bot_version"], r["intent"]): r for r in out}
    greet = by_key[("1", "greet")]
    assert greet["matches"] == 4
    assert greet["sessions"] == 1
    assert greet["conversations"] == 2
    assert greet["avg_confidence"] == pytest.approx((0.9 + 0.4 + 0.2) / 3)
    assert greet["p50_confidence"] == pytest.approx(0.4)
    assert greet["fallback_share"] == pytest.approx(1 / 4)
    assert greet["low_confidence_share"] == pytest.approx(2 / 4)
    fallback = by_key[("1", "fallback")]
    assert (fallback["matches"], fallback["fallback_share"]) == (1, 1.0)
    assert fallback["low_confidence_share"] == 0.0
    assert by_key[("2", "greet")]["matches"] == 1
    # Even count: interpolating median.
    even = records(oracle.intents_daily(events[:3]))[0]
    assert even["p50_confidence"] == pytest.approx(0.65)
    strict = records(oracle.intents_daily(events, low_confidence_threshold=0.95))
    greet_strict = [r for r in strict if (r["bot_version"], r["intent"]) == ("1", "greet")]
    assert greet_strict[0]["low_confidence_share"] == pytest.approx(3 / 4)


def test_api_daily_percentiles_errors_and_sessions():
    latencies = [10.0, 20.0, 30.0, 40.0, None]
    statuses = [200, 500, None, 404, 200]
    events = [ev("u1", at())]
    for i, (latency, status) in enumerate(zip(latencies, statuses, strict=True)):
        events.append(
            ev(
                f"a{i}",
                at(minutes=i * 3),
                actor="bot",
                event_type="api_call",
                api_name="crm",
                latency_ms=latency,
                status_code=status,
            )
        )
    out = records(oracle.api_daily(events))
    assert len(out) == 1
    row = out[0]
    assert (row["calls"], row["error_calls"]) == (5, 3)
    assert row["error_rate"] == pytest.approx(0.6)
    assert row["latency_p50"] == pytest.approx(25.0)
    assert row["latency_p95"] == pytest.approx(38.5)
    assert row["latency_p99"] == pytest.approx(39.7)
    assert row["latency_max"] == 40.0
    # Errors at minutes 3, 6 and 9 all fall in the one session (window ends 10:10).
    assert row["sessions_with_errors"] == 1
    assert oracle.percentile_cont([], 0.5) is None
    assert oracle.percentile_cont([7.0], 0.99) == 7.0


def test_usage_daily():
    events = [
        ev("cs", at(), actor="system", event_type="conversation_started", conversation_id="k"),
        ev("u1", at(seconds=1), conversation_id="k"),
        ev("b1", at(seconds=2), actor="bot", conversation_id="k"),
        ev("g1", at(seconds=3), actor="agent", conversation_id="k"),
        ev("n1", at(seconds=4), actor="bot", event_type="intent_matched", intent="x"),
        ev("a1", at(seconds=5), actor="bot", event_type="api_call", api_name="crm"),
        ev("t1", at(seconds=6), actor="agent", event_type="ticket_created", ticket_id="T"),
        ev("t2", at(seconds=7), actor="agent", event_type="ticket_created", ticket_id="T"),
        imp("i1", at(seconds=8)),
        imp("i2", at(seconds=9)),
        ev("o1", at(seconds=10), bot_id="other", actor="bot", event_type="page_view"),
    ]
    out = records(oracle.usage_daily(events))
    assert out == [
        {
            "event_date": date(2024, 3, 1),
            "account_id": "a1",
            "bot_id": "b1",
            "sessions": 1,
            "conversations_started": 1,
            "user_messages": 1,
            "bot_messages": 1,
            "agent_messages": 1,
            "unique_impressions": 1,
            "tickets": 1,
            "intents_matched": 1,
            "api_calls": 1,
        },
        {
            "event_date": date(2024, 3, 1),
            "account_id": "a1",
            "bot_id": "other",
            "sessions": 0,
            "conversations_started": 0,
            "user_messages": 0,
            "bot_messages": 0,
            "agent_messages": 0,
            "unique_impressions": 0,
            "tickets": 0,
            "intents_matched": 0,
            "api_calls": 0,
        },
    ]


# --------------------------------------------------------------------------------------
# Input handling and scale
# --------------------------------------------------------------------------------------


def test_dataframe_input_with_nans_matches_list_input():
    events = [
        ev("u1", at(), confidence=None, status_code=None),
        ev("u2", at(minutes=11), conversation_id="k", confidence=0.5, status_code=200),
    ]
    from_frame = oracle.sessions(pd.DataFrame(events))
    from_list = oracle.sessions(events)
    pd.testing.assert_frame_equal(from_frame, from_list)


def test_duplicate_event_ids_are_rejected():
    with pytest.raises(ValueError, match="duplicate event_id"):
        oracle.sessions([ev("e", at()), ev("e", at(minutes=1))])


def test_output_columns_on_empty_input():
    assert list(oracle.sessions([]).columns) == oracle.rules.SESSION_COLUMNS
    assert list(oracle.tickets([]).columns) == oracle.rules.TICKET_COLUMNS
    assert oracle.usage_daily([]).empty
    assert oracle.impressions_daily([]).empty


def test_fifty_thousand_events_are_fast_and_consistent():
    rng = random.Random(7)
    events = []
    for i in range(50_000):
        customer = f"c{rng.randrange(500)}"
        kind = rng.random()
        base = ev(
            f"e{i:05d}",
            at(seconds=rng.randrange(3 * 24 * 3600)),
            actor=rng.choice(["user", "user", "bot", "agent", "system"]),
            customer_id=customer,
            bot_id=f"b{rng.randrange(3)}",
            channel=rng.choice(["web", "whatsapp"]),
            conversation_id=f"k{rng.randrange(2000)}",
        )
        if kind < 0.1:
            base.update(event_type="impression", page_url=f"/p{rng.randrange(3)}")
        elif kind < 0.13:
            base.update(event_type="ticket_created", ticket_id=f"T{rng.randrange(1000)}")
        events.append(base)
    started = time.perf_counter()
    out = oracle.sessions(events)
    daily_total = oracle.sessions_daily_total(events)
    elapsed = time.perf_counter() - started
    assert elapsed < 20
    user_events = sum(e["actor"] == "user" and e["event_type"] != "impression" for e in events)
    assert out["user_event_count"].sum() == user_events
    assert daily_total["sessions"].sum() == len(out)
    # Windows of one key never overlap.
    for _, group in out.groupby(["account_id", "bot_id", "customer_id"]):
        ends = group["session_end_at"] + timedelta(minutes=10)
        assert (group["session_start_at"].iloc[1:].values >= ends.iloc[:-1].values).all()

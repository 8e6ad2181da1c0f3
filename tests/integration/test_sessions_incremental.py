"""Billing exactness: incremental runs in any order equal a full refresh, which equals the
independent oracle (tests/oracle), on data built to hit every session edge case."""

from __future__ import annotations

import datetime as dt
import random
import shutil

import pandas as pd
import pytest

from tests import oracle
from tests.pipeline_helpers import (
    SESSION_MARTS,
    build_full,
    build_incremental,
    dbt,
    land,
    read_table,
    staged_events,
    table_differences,
    write_landing,
)

FIRST_DAY = dt.date(2022, 3, 1)
DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(5)]
# Gaps between a key's user events, seconds: hits the timeout exactly and on both sides.
GAPS = [5, 45, 200, 599, 599.999, 600, 600, 600.001, 900, 4000, 20000]


def _iso(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def synthetic_raw(seed: int = 7) -> dict[dt.date, list[dict]]:
    """Events for a few keys with gaps around the timeout, bot/agent noise inside gaps,
    tickets inside and after windows, channel and conversation switches, impressions with
    actor user, midnight crossings, 1-3 day late arrivals and duplicate deliveries."""
    rng = random.Random(seed)
    by_arrival: dict[dt.date, list[dict]] = {d: [] for d in DAYS}
    n = 0

    def emit(ev: dict, occurred: dt.datetime) -> None:
        nonlocal n
        late = rng.random() < 0.25
        arrival = occurred.date() + dt.timedelta(days=rng.randint(1, 3) if late else 0)
        arrival = min(max(arrival, DAYS[0]), DAYS[-1])
        by_arrival[arrival].append(ev)
        if rng.random() < 0.05:  # at-least-once delivery: same event again, maybe later
            dup_day = min(arrival + dt.timedelta(days=rng.randint(0, 2)), DAYS[-1])
            by_arrival[dup_day].append(dict(ev))

    for account in ("acct_1", "acct_2"):
        for bot in ("bot_a", "bot_b"):
            for customer in ("cus_1", "cus_2", "cus_3"):
                t = dt.datetime.combine(DAYS[0], dt.time(22, 30)) + dt.timedelta(
                    minutes=rng.randint(0, 300)
                )
                conversation = f"conv_{account}_{bot}_{customer}_0"
                for i in range(rng.randint(25, 45)):
                    n += 1
                    if rng.random() < 0.15:
                        conversation = f"conv_{account}_{bot}_{customer}_{i}"
                    channel = rng.choice(["web", "web", "web", "whatsapp", "sms"])
                    common = {
                        "account_id": account,
                        "bot_id": bot,
                        "customer_id": customer,
                        "bot_name": f"{bot} name",
                        "bot_version": f"1.{(t - dt.datetime(2022, 3, 1)).days}.0",
                    }
                    emit(
                        {
                            "event_id": f"u{n:05d}",
                            "event_type": "message",
                            "occurred_at": _iso(t),
                            "channel": channel,
                            "conversation_id": conversation,
                            "actor": "user",
                            **common,
                        },
                        t,
                    )
                    # Bot reply and sometimes agent/system noise inside the coming gap.
                    gap = dt.timedelta(seconds=rng.choice(GAPS))
                    for k, frac in enumerate(
                        sorted(rng.random() for _ in range(rng.randint(0, 3)))
                    ):
                        at = t + gap * frac
                        kind = rng.random()
                        ev = {
                            "event_id": f"b{n:05d}_{k}",
                            "occurred_at": _iso(at),
                            "channel": channel,
                            "conversation_id": conversation,
                            **common,
                        }
                        if kind < 0.6:
                            ev.update(event_type="message", actor=rng.choice(["bot", "agent"]))
                        elif kind < 0.8:
                            ev.update(
                                event_type="ticket_created",
                                actor="agent",
                                ticket_id=f"t{n:05d}_{k}",
                            )
                        elif kind < 0.9:
                            ev.update(
                                event_type="impression",
                                actor="user",
                                page_url="https://x.example/help",
                            )
                            ev.pop("conversation_id")
                        else:
                            ev.update(
                                event_type="intent_matched",
                                actor="bot",
                                intent="faq",
                                confidence=0.8,
                            )
                        emit(ev, at)
                    if rng.random() < 0.05:  # ticket exactly at the window end: no session
                        n += 1
                        at = t + dt.timedelta(minutes=10)
                        emit(
                            {
                                "event_id": f"tw{n:05d}",
                                "event_type": "ticket_created",
                                "occurred_at": _iso(at),
                                "channel": channel,
                                "actor": "system",
                                "conversation_id": conversation,
                                "ticket_id": f"tw{n:05d}",
                                **common,
                            },
                            at,
                        )
                    t = t + gap
                    if t.date() > DAYS[-1]:
                        break
    return by_arrival


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory):
    base = tmp_path_factory.mktemp("sessions")
    landing = base / "landing"
    write_landing(landing, synthetic_raw())
    full = base / "full" / "warehouse.duckdb"
    full.parent.mkdir()
    build_full(full, landing, DAYS)

    in_order = base / "in_order" / "warehouse.duckdb"
    in_order.parent.mkdir()
    build_incremental(in_order, landing, DAYS)

    # Out of order, with a partition re-run and a two-day backfill in one run.
    shuffled = base / "shuffled" / "warehouse.duckdb"
    shuffled.parent.mkdir()
    build_incremental(shuffled, landing, [DAYS[3], DAYS[0], DAYS[4], DAYS[0]])
    land(shuffled, landing, [DAYS[1], DAYS[2]])
    dbt(shuffled, "run")
    return {"landing": landing, "full": full, "in_order": in_order, "shuffled": shuffled}


@pytest.mark.parametrize("variant", ["in_order", "shuffled"])
@pytest.mark.parametrize("table", SESSION_MARTS)
def test_incremental_equals_full_refresh(warehouses, variant, table):
    diff = table_differences(warehouses[variant], warehouses["full"], table)
    assert diff == "", diff


def test_staging_matches_oracle_and_keeps_earliest_arrival(warehouses):
    raw = read_table(warehouses["full"], "events", schema="raw").to_dict("records")
    expected = {e["event_id"]: e for e in oracle.stage(raw)}
    actual = read_table(warehouses["full"], "stg_botmeter__events", schema="staging")
    assert len(raw) > len(actual), "the data must contain duplicate deliveries"
    assert sorted(actual["event_id"]) == sorted(expected)
    for row in actual.to_dict("records"):
        exp = expected[row["event_id"]]
        assert (row["arrival_date"], row["source_file"], row["line_number"]) == (
            exp["arrival_date"],
            exp["source_file"],
            exp["line_number"],
        )


# The oracle's session columns without its list-valued ones (compared through the bridges).
SESSION_COLUMNS = [
    c for c in oracle.rules.SESSION_COLUMNS if c not in ("channels", "conversations", "tickets")
]


def _normalise(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = df[columns].copy()
    for c in columns:
        if "date" in c or "month" in c:
            out[c] = pd.to_datetime(out[c]).dt.date
        elif c.endswith("_at"):
            out[c] = pd.to_datetime(out[c])
        elif out[c].dtype.kind in "iuf":
            out[c] = out[c].astype("int64")
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.sort_values(columns).reset_index(drop=True)


def test_sessions_match_oracle(warehouses):
    events = staged_events(warehouses["full"])
    expected = _normalise(oracle.sessions(events), SESSION_COLUMNS)
    # The bot's name and version are the bot dimension's, as the report shows them.
    labels = read_table(warehouses["full"], "rpt_sessions")[
        ["session_id", "bot_name", "bot_version"]
    ]
    sessions = read_table(warehouses["full"], "fct_sessions").merge(labels, on="session_id")
    actual = _normalise(sessions, SESSION_COLUMNS)
    assert len(actual) > 50
    # The data hits the edge cases it was built for.
    assert (expected["channel_count"] > 1).any()
    assert (expected["session_date"] != pd.to_datetime(expected["session_end_at"]).dt.date).any()
    pd.testing.assert_frame_equal(actual, expected)


@pytest.mark.parametrize(
    ("mart", "oracle_fn", "columns"),
    [
        (
            "agg_sessions_daily",
            oracle.sessions_daily,
            ["session_date", "account_id", "bot_id", "channel", "sessions", "tickets"],
        ),
        (
            "agg_sessions_daily_total",
            oracle.sessions_daily_total,
            ["session_date", "account_id", "bot_id", "sessions", "tickets"],
        ),
        (
            "agg_sessions_monthly",
            oracle.sessions_monthly,
            ["session_month", "account_id", "bot_id", "channel", "sessions", "tickets"],
        ),
        (
            "agg_sessions_monthly_total",
            oracle.sessions_monthly_total,
            ["session_month", "account_id", "bot_id", "sessions", "tickets"],
        ),
    ],
)
def test_rollups_match_oracle(warehouses, mart, oracle_fn, columns):
    events = staged_events(warehouses["full"])
    expected = _normalise(oracle_fn(events), columns)
    actual = _normalise(read_table(warehouses["full"], mart), columns)
    pd.testing.assert_frame_equal(actual, expected)


def test_tickets_match_oracle(warehouses):
    events = staged_events(warehouses["full"])
    expected = oracle.tickets(events)
    tickets = read_table(warehouses["full"], "fct_tickets")
    sessions = read_table(warehouses["full"], "fct_sessions")[["session_id", "session_start_at"]]
    actual = tickets.merge(sessions, on="session_id", how="left")
    cols = ["ticket_id", "conversation_id", "ticket_created_at", "session_start_at"]
    exp = expected[cols].sort_values("ticket_id").reset_index(drop=True)
    act = actual[cols].sort_values("ticket_id").reset_index(drop=True)
    assert exp["session_start_at"].isna().any(), "some ticket must fall outside every window"
    pd.testing.assert_frame_equal(
        act.astype({"session_start_at": "datetime64[us]", "ticket_created_at": "datetime64[us]"}),
        exp.astype({"session_start_at": "datetime64[us]", "ticket_created_at": "datetime64[us]"}),
    )


def test_conversations_and_bridge_match_oracle(warehouses):
    events = staged_events(warehouses["full"])
    cols = [
        "conversation_id",
        "conversation_created_at",
        "conversation_updated_at",
        "session_count",
        "ticket_count",
    ]
    expected = _normalise(oracle.conversations(events), cols)
    actual = _normalise(read_table(warehouses["full"], "dim_conversations"), cols)
    assert (expected["session_count"] > 1).any(), "a conversation must span sessions"
    pd.testing.assert_frame_equal(actual, expected)

    bridge_cols = ["account_id", "bot_id", "customer_id", "session_start_at", "conversation_id"]
    pd.testing.assert_frame_equal(
        _normalise(read_table(warehouses["full"], "bridge_session_conversations"), bridge_cols),
        _normalise(oracle.session_conversations(events), bridge_cols),
    )


def test_explain_view_matches_oracle(warehouses):
    events = staged_events(warehouses["full"])
    expected = oracle.explain_sessions(events)
    actual = read_table(warehouses["full"], "rpt_session_explain")
    merged = actual.merge(expected, on="event_id", suffixes=("", "_oracle"))
    assert len(merged) == len(expected) == len(actual)
    assert (
        merged["new_session_reason"].fillna("") == merged["new_session_reason_oracle"].fillna("")
    ).all()
    assert (merged["session_start_at"] == merged["session_start_at_oracle"]).all()
    gaps = merged[["gap_seconds", "gap_seconds_oracle"]].astype("float64")
    assert gaps["gap_seconds"].fillna(-1).eq(gaps["gap_seconds_oracle"].fillna(-1)).all()
    assert set(merged["new_session_reason"].dropna()) == {"first_activity", "inactivity_gap"}
    sessions = read_table(warehouses["full"], "fct_sessions")
    assert set(actual["session_id"]) == set(sessions["session_id"])


def test_rerun_gives_same_warehouse(warehouses, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouses["in_order"], copy)
    build_incremental(copy, warehouses["landing"], [DAYS[2]])
    for table in SESSION_MARTS:
        assert table_differences(copy, warehouses["in_order"], table) == ""


def test_a_changed_session_timeout_rebuilds_every_model(warehouses, tmp_path):
    """A rule var that differs from the last build's rebuilds every model without being asked
    (dbt_project/macros/build_record.sql), so no figure keeps the old rule."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouses["full"], copy)
    dbt(copy, "run", "--vars", '{"session_timeout_minutes": 30}')
    with_30 = read_table(copy, "fct_sessions")
    with_10 = read_table(warehouses["full"], "fct_sessions")
    assert len(with_30) < len(with_10)
    expected = oracle.sessions(staged_events(warehouses["full"]), timeout_minutes=30)
    assert len(with_30) == len(expected)

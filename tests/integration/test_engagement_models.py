"""End-to-end tests of the engagement models (impressions, intents, API calls, usage, KPIs).

A warehouse is built from small hand-made landing files one arrival day at a time (out of
order, with a partition re-run and a two-day run), another one with a full refresh, and every
engagement model must be equal row for row. The full refresh is then compared with the
independent Python oracle (tests/oracle). Each test lands its own files under tmp_path and
runs dbt in a subprocess with BOTMETER_WAREHOUSE pointing at its own DuckDB file.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from assets.kpi_definitions import load_kpi_definitions, validate_kpi_config
from tests import oracle
from tests.pipeline_helpers import dbt, land, write_landing

ROOT = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).with_name("dbt")

# Every table whose content must not depend on the history of runs (int_engagement_days_changed
# is a per-run work table and is not compared).
COMPARED_MODELS = (
    "marts.fct_impressions",
    "marts.agg_impressions_daily",
    "marts.agg_engagement_daily",
    "marts.agg_intents_daily",
    "marts.agg_api_calls_daily",
    "marts.agg_usage_daily",
    "intermediate.int_kpi_counts_daily",
    "marts.agg_kpis_daily",
    "marts.agg_kpis_monthly",
)
KPI_MODELS = ("intermediate.int_kpi_counts_daily", "marts.agg_kpis_daily", "marts.agg_kpis_monthly")

FALLBACK_INTENTS = ("fallback", "default_fallback")
LOW_CONFIDENCE = 0.5

# --------------------------------------------------------------------------------------
# Hand-made events
# --------------------------------------------------------------------------------------

T0 = dt.datetime(2024, 3, 1, 10, 0)  # a Friday, 10:00 UTC
D1, D2, D3, D4, D5 = (dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(5))


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def at(**delta) -> dt.datetime:
    return T0 + dt.timedelta(**delta)


def event(event_id, moment, event_type="message", **fields) -> dict:
    row = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": iso(moment),
        "account_id": "a1",
        "bot_id": "b1",
        "channel": "web",
        "customer_id": "c1",
        "bot_version": "1.0",
    }
    if event_type in ("message", "conversation_started"):
        row["actor"] = "user" if event_type == "message" else "system"
    row.update(fields)
    return row


def impression(event_id, moment, customer_id="v1", page_url="/home", **fields) -> dict:
    return event(
        event_id, moment, "impression", customer_id=customer_id, page_url=page_url, **fields
    )


def hand_made_events() -> dict[dt.date, list[dict]]:
    """Arrival date -> event lines. Comments give the rule each group exercises."""
    days: dict[dt.date, list[dict]] = {day: [] for day in (D1, D2, D3, D4, D5)}

    def arrive(day, *rows):
        days[day].extend(rows)

    # -- impressions ------------------------------------------------------------------
    # v1 reloads /home every hour for 72 hours (3 unique), each load arriving on its day,
    # a few of them one day late.
    for hour in range(72):
        moment = at(hours=hour)
        late = 1 if hour % 10 == 3 else 0
        arrive(moment.date() + dt.timedelta(days=late), impression(f"h{hour:02d}", moment))
    # a second page of the same visitor is independent
    arrive(D1, impression("p1", at(hours=1), page_url="/pricing"))
    arrive(D2, impression("p2", at(hours=25), page_url="/pricing"))
    # exact 24 h boundary: 23:59:59.999 later is plain, 24 h later is unique
    arrive(D1, impression("w0", at(), customer_id="v3"))
    arrive(
        D2,
        impression("w1", at(hours=23, minutes=59, seconds=59, milliseconds=999), customer_id="v3"),
    )
    arrive(D2, impression("w2", at(hours=24), customer_id="v3"))
    # a late earlier load changes which load is unique (v2), plus an exact duplicate
    arrive(D1, impression("e1", at(), customer_id="v2"))
    arrive(D2, impression("e2", at(hours=23), customer_id="v2"))
    arrive(D3, impression("e0", at(hours=-2), customer_id="v2"))
    arrive(D4, impression("e2", at(hours=23), customer_id="v2"))
    # a late load shifts a whole chain (v4): uniques 0h, 30h become -5h, 20h, 50h
    arrive(D1, impression("s1", at(), customer_id="v4"))
    arrive(D1, impression("s2", at(hours=20), customer_id="v4"))
    arrive(D2, impression("s3", at(hours=30), customer_id="v4"))
    arrive(D3, impression("s4", at(hours=50), customer_id="v4"))
    arrive(D5, impression("s0", at(hours=-5), customer_id="v4"))
    # same instant: the smaller event id is the unique one
    arrive(D2, impression("t2", at(hours=3), customer_id="v5"))
    arrive(D3, impression("t1", at(hours=3), customer_id="v5"))
    # -- engagement (account a9): visitors who start a conversation after a page load -----
    # v9 starts one 30 minutes after its unique impression y1 (engaged); v8 starts one
    # exactly 24 h after y2, when y3 opens a new unique impression (the window end is
    # exclusive: y2 is not engaged, y3 is); c9 starts one on whatsapp with no page load
    # (counted, no rate).
    a9 = {"account_id": "a9"}
    arrive(D1, impression("y1", at(), customer_id="v9", **a9))
    arrive(D1, event("g-v9", at(minutes=30), "conversation_started", customer_id="v9",
                     conversation_id="gv9", **a9))  # fmt: skip
    arrive(D1, impression("y2", at(), customer_id="v8", **a9))
    arrive(D2, impression("y3", at(hours=24), customer_id="v8", **a9))
    arrive(D2, event("g-v8", at(hours=24), "conversation_started", customer_id="v8",
                     conversation_id="gv8", **a9))  # fmt: skip
    arrive(D2, event("g-c9", at(hours=26), "conversation_started", customer_id="c9",
                     channel="whatsapp", conversation_id="gc9", **a9))  # fmt: skip
    # impressions of another account and bot, with properties and a "user" actor
    arrive(
        D1,
        impression(
            "x1",
            at(hours=2),
            account_id="a2",
            bot_id="b9",
            customer_id="v1",
            actor="user",
            properties={"referrer": "google"},
        ),
    )
    arrive(
        D2,
        impression(
            "x2",
            at(hours=27),
            account_id="a2",
            bot_id="b9",
            customer_id="v1",
            properties={"referrer": "email"},
        ),
    )

    # -- conversation k1 of c1 (web): two sessions that a late user event merges ----------
    arrive(
        D1,
        event(
            "k1-start",
            at(minutes=-1),
            "conversation_started",
            conversation_id="k1",
            properties={"entry_point": "deeplink"},
        ),
        event("k1-u1", at(), conversation_id="k1"),
        event(
            "k1-n1",
            at(seconds=2),
            "intent_matched",
            actor="bot",
            conversation_id="k1",
            intent="track_order",
            confidence=0.9,
            is_fallback=False,
        ),
        event(
            "k1-a1",
            at(seconds=3),
            "api_call",
            actor="bot",
            conversation_id="k1",
            api_name="order_status",
            status_code=200,
            latency_ms=120.0,
        ),
        event("k1-b1", at(seconds=4), actor="bot", conversation_id="k1"),
        event("k1-u2", at(minutes=5), conversation_id="k1"),
        event(
            "k1-t1",
            at(minutes=6),
            "ticket_created",
            actor="agent",
            conversation_id="k1",
            ticket_id="T1",
        ),
        event("k1-g1", at(minutes=7), actor="agent", conversation_id="k1"),
        # session 2 (10:25): fallback intent and failing API calls
        event("k1-u3", at(minutes=25), conversation_id="k1"),
        event(
            "k1-n2",
            at(minutes=25, seconds=1),
            "intent_matched",
            actor="bot",
            conversation_id="k1",
            intent="fallback",
            confidence=0.2,
        ),
        event(
            "k1-a2",
            at(minutes=25, seconds=2),
            "api_call",
            actor="bot",
            conversation_id="k1",
            api_name="order_status",
            status_code=500,
            latency_ms=900.0,
        ),
        event(
            "k1-a3",
            at(minutes=25, seconds=3),
            "api_call",
            actor="bot",
            conversation_id="k1",
            api_name="order_status",
        ),
        event(
            "k1-kpi",
            at(minutes=26),
            "kpi_event",
            actor="bot",
            conversation_id="k1",
            kpi_name="order_tracked",
            kpi_value=1.0,
        ),
    )
    # the late user event at 10:16 extends session 1 to 10:26, swallowing session 2
    arrive(D3, event("k1-u-late", at(minutes=16), conversation_id="k1"))
    # a late bot-only intent inside session 1 (no user activity) arriving two days later
    arrive(
        D4,
        event(
            "k1-n-late",
            at(minutes=1),
            "intent_matched",
            actor="bot",
            conversation_id="k1",
            intent="track_order",
            confidence=0.6,
        ),
    )

    # -- conversation k2 of c2 crosses midnight (session starts on D1) ---------------------
    arrive(
        D1,
        event(
            "k2-start",
            at(hours=13, minutes=54),
            "conversation_started",
            customer_id="c2",
            conversation_id="k2",
            properties={"entry_point": "launcher"},
        ),
        event("k2-u1", at(hours=13, minutes=55), customer_id="c2", conversation_id="k2"),
    )
    arrive(
        D2,
        event("k2-u2", at(hours=14, minutes=3), customer_id="c2", conversation_id="k2"),
        event(
            "k2-n1",
            at(hours=14, minutes=3, seconds=1),
            "intent_matched",
            actor="bot",
            customer_id="c2",
            conversation_id="k2",
            intent="pay_bill",
            confidence=0.45,
            is_fallback=False,
        ),
        event(
            "k2-kpi",
            at(hours=14, minutes=5),
            "kpi_event",
            actor="bot",
            customer_id="c2",
            conversation_id="k2",
            kpi_name="payment_completed",
            kpi_value=42.5,
        ),
        event(
            "k2-a1",
            at(hours=14, minutes=4),
            "api_call",
            actor="bot",
            customer_id="c2",
            conversation_id="k2",
            api_name="payment_gateway",
            status_code=201,
            latency_ms=80.0,
        ),
    )

    # -- conversation k3 of c3 on whatsapp: two tickets, one of them created twice ---------
    arrive(
        D2,
        event(
            "k3-start",
            at(days=1, hours=2),
            "conversation_started",
            customer_id="c3",
            channel="whatsapp",
            conversation_id="k3",
            properties={"entry_point": "qr_code"},
        ),
        event(
            "k3-u1",
            at(days=1, hours=2, minutes=1),
            customer_id="c3",
            channel="whatsapp",
            conversation_id="k3",
        ),
        event(
            "k3-t1",
            at(days=1, hours=2, minutes=2),
            "ticket_created",
            actor="agent",
            customer_id="c3",
            channel="whatsapp",
            conversation_id="k3",
            ticket_id="T3a",
        ),
        event(
            "k3-t2",
            at(days=1, hours=2, minutes=3),
            "ticket_created",
            actor="agent",
            customer_id="c3",
            channel="whatsapp",
            conversation_id="k3",
            ticket_id="T3a",
        ),
        event(
            "k3-t3",
            at(days=1, hours=2, minutes=4),
            "ticket_created",
            actor="agent",
            customer_id="c3",
            channel="whatsapp",
            conversation_id="k3",
            ticket_id="T3b",
        ),
        event(
            "k3-n1",
            at(days=1, hours=2, minutes=1, seconds=1),
            "intent_matched",
            actor="bot",
            customer_id="c3",
            channel="whatsapp",
            conversation_id="k3",
            intent="default_fallback",
            confidence=0.3,
            bot_version="1.1",
        ),
    )
    # a duplicate copy of k3-u1 arrives again on D5 (staging keeps the D2 copy)
    arrive(
        D5,
        event(
            "k3-u1",
            at(days=1, hours=2, minutes=1),
            customer_id="c3",
            channel="whatsapp",
            conversation_id="k3",
        ),
    )

    # -- conversation k4 of c4: a late conversation_started moves its first day to D1 -----
    arrive(
        D2,
        event("k4-u1", at(hours=14, minutes=10), customer_id="c4", conversation_id="k4"),
        event(
            "k4-kpi",
            at(hours=14, minutes=11),
            "kpi_event",
            actor="bot",
            customer_id="c4",
            conversation_id="k4",
            kpi_name="appointment_booked",
        ),
    )
    arrive(
        D5,
        event(
            "k4-start",
            at(hours=13, minutes=58),
            "conversation_started",
            customer_id="c4",
            conversation_id="k4",
            properties={"entry_point": "deeplink"},
        ),
    )

    # -- another bot of the account: versions, an API call outside every session ---------
    arrive(
        D3,
        event("b2-u1", at(days=2), bot_id="b2", customer_id="c1", conversation_id="k5"),
        event(
            "b2-n1",
            at(days=2, seconds=1),
            "intent_matched",
            actor="bot",
            bot_id="b2",
            customer_id="c1",
            conversation_id="k5",
            intent="track_order",
            confidence=0.5,
            bot_version="2.0",
        ),
        event(
            "b2-n2",
            at(days=2, seconds=2),
            "intent_matched",
            actor="bot",
            bot_id="b2",
            customer_id="c1",
            conversation_id="k5",
            intent="track_order",
            confidence=0.7,
            bot_version="2.0",
        ),
        event(
            "b2-a1",
            at(days=2, hours=3),
            "api_call",
            actor="bot",
            bot_id="b2",
            customer_id="c1",
            api_name="crm_lookup",
            status_code=404,
            latency_ms=30.0,
        ),
    )
    return days


# --------------------------------------------------------------------------------------
# Warehouse helpers
# --------------------------------------------------------------------------------------


class Warehouse:
    """A DuckDB warehouse file plus its own dbt target/log folders."""

    def __init__(self, root: Path, name: str, landing: Path):
        self.path = root / f"{name}.duckdb"
        self.work = root / f"{name}-dbt"
        self.landing = landing

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path), read_only=read_only)
        con.execute("set TimeZone = 'UTC'")
        return con

    def land(self, *days: dt.date) -> None:
        land(self.path, self.landing, days)

    def load_kpis(self, config) -> None:
        con = self.connect()
        try:
            load_kpi_definitions(con, config)
        finally:
            con.close()

    def dbt(self, *args: str) -> None:
        """Build every model (in this process): the tests of the models run elsewhere."""
        dbt(self.path, "run", *args)

    def run_days(self, first: dt.date, last: dt.date | None = None) -> None:
        """What the daily Dagster job does: land the arrival dates, then build the models
        (which process the loads since the last build)."""
        last = last or first
        day = first
        while day <= last:
            self.land(day)
            day += dt.timedelta(days=1)
        self.dbt()

    def rows(self, table: str) -> list[tuple]:
        con = self.connect(read_only=True)
        try:
            return con.execute(f"select * from {table} order by all").fetchall()
        finally:
            con.close()

    def frame(self, sql: str) -> pd.DataFrame:
        """Query result as a DataFrame of plain Python values (dates stay dates)."""
        con = self.connect(read_only=True)
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description]
            return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
        finally:
            con.close()


def same_value(left, right) -> bool:
    """Equal bit for bit: no tolerance, for floats too (issue 17, item 9)."""
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    return left == right


def assert_same_rows(left: list[tuple], right: list[tuple], label: str) -> None:
    assert len(left) == len(right), f"{label}: {len(left)} rows vs {len(right)}"
    for a, b in zip(left, right, strict=True):
        assert len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True)), (
            f"{label}: {a} != {b}"
        )


def assert_same_models(incremental: Warehouse, full: Warehouse, models=COMPARED_MODELS) -> None:
    for model in models:
        assert_same_rows(incremental.rows(model), full.rows(model), model)


def assert_frame_matches(actual, expected, keys: list[str], label: str) -> None:
    """Compare a warehouse frame with an oracle frame on the oracle's columns."""
    columns = list(expected.columns)
    actual = actual[columns].sort_values(keys, na_position="last").reset_index(drop=True)
    expected = expected.sort_values(keys, na_position="last").reset_index(drop=True)
    left = [
        tuple(None if _isnull(v) else _plain(v) for v in row)
        for row in actual.itertuples(index=False)
    ]
    right = [
        tuple(None if _isnull(v) else _plain(v) for v in row)
        for row in expected.itertuples(index=False)
    ]
    assert_same_rows(left, right, label)


def _isnull(value) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _plain(value):
    """numpy/pandas scalars as plain Python values."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


def staged_events(warehouse: Warehouse) -> list[dict]:
    frame = warehouse.frame("select * from staging.stg_botmeter__events")
    return frame.to_dict("records")


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

CHANGED_KPIS = {
    "version": 1,
    "kpis": [
        {
            "name": "containment_rate",
            "description": "Sessions without a ticket over sessions.",
            "grain": "day",
            "numerator": {"count": "sessions", "without": {"event_type": "ticket_created"}},
            "denominator": {"count": "sessions"},
        },
        {
            # changed filter: only payments complete a goal
            "name": "goal_completion_rate",
            "description": "Conversations with a payment over conversations.",
            "grain": "month",
            "numerator": {
                "count": "conversations",
                "where": {"event_type": "kpi_event", "kpi_name": "payment_completed"},
            },
            "denominator": {"count": "conversations"},
        },
        {
            "name": "referred_impressions",
            "description": "Impressions referred by a search engine or an e-mail.",
            "grain": "day",
            "numerator": {
                "count": "events",
                "where": {
                    "event_type": "impression",
                    "properties": {"referrer": ["google", "email"]},
                },
            },
        },
        {
            "name": "fallback_sessions",
            "description": "Sessions with a fallback intent, excluding escalated ones.",
            "grain": "day",
            "numerator": {
                "count": "sessions",
                "where": {"event_type": "intent_matched"},
                "without": {"event_type": "ticket_created"},
            },
            "denominator": {"count": "sessions", "where": {"event_type": "intent_matched"}},
        },
    ],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Warehouse `inc` built day by day and `full` built by one full refresh."""
    root = tmp_path_factory.mktemp("engagement")
    landing = root / "landing"
    write_landing(landing, hand_made_events())

    inc = Warehouse(root, "incremental", landing)
    # the first run has no KPI configuration loaded: the KPI models build empty ...
    inc.run_days(D1)
    assert inc.rows("marts.agg_kpis_daily") == []
    # ... and pick the whole history up once it is loaded
    inc.load_kpis(ROOT / "config" / "kpis.yml")
    for first, last in [(D3, D3), (D2, D2), (D4, D4), (D3, D3), (D5, D5), (D4, D5)]:
        inc.run_days(first, last)

    full = Warehouse(root, "full", landing)
    full.land(D1, D2, D3, D4, D5)
    full.load_kpis(ROOT / "config" / "kpis.yml")
    full.dbt("--full-refresh")
    return inc, full


def test_incremental_runs_equal_a_full_refresh(built):
    inc, full = built
    assert_same_models(inc, full)
    # every mart, every column, bit for bit
    marts = [
        f"marts.{name}"
        for (name,) in full.connect(read_only=True)
        .execute("select table_name from information_schema.tables where table_schema = 'marts'")
        .fetchall()
    ]
    assert len(marts) > len(COMPARED_MODELS)
    assert_same_models(inc, full, marts)
    # the data set really exercises the models
    for model in COMPARED_MODELS:
        assert full.rows(model), f"{model} is empty"


def test_impressions_match_the_oracle(built):
    _, full = built
    events = staged_events(full)
    expected = oracle.impressions(events)
    actual = full.frame("select * from marts.fct_impressions")
    assert_frame_matches(actual, expected, ["impression_id"], "fct_impressions")
    daily = oracle.impressions_daily(events)
    actual = full.frame("select * from marts.agg_impressions_daily")
    keys = ["impression_date", "account_id", "bot_id", "page_url"]
    assert_frame_matches(actual, daily, keys, "agg_impressions_daily")


def test_impression_rules_on_the_hand_made_keys(built):
    _, full = built
    rows = full.frame(
        "select impression_id, unique_impression_id, is_unique from marts.fct_impressions"
    )
    unique = dict(zip(rows["impression_id"], rows["unique_impression_id"], strict=True))
    is_unique = dict(zip(rows["impression_id"], rows["is_unique"], strict=True))
    # hourly for 72 hours: three unique impressions, anchored on the first load
    assert sorted(i for i in is_unique if i.startswith("h") and is_unique[i]) == [
        "h00",
        "h24",
        "h48",
    ]
    assert unique["h23"] == "h00" and unique["h47"] == "h24"
    # the exact boundary
    assert (unique["w1"], is_unique["w2"]) == ("w0", True)
    # the late earlier load and the shifted chain
    assert [is_unique[i] for i in ("e0", "e1", "e2")] == [True, False, True]
    assert [is_unique[i] for i in ("s0", "s1", "s2", "s3", "s4")] == [
        True,
        False,
        True,
        False,
        True,
    ]
    # same instant: smaller id wins; two pages are independent
    assert (is_unique["t1"], unique["t2"]) == (True, "t1")
    assert is_unique["p1"] and is_unique["p2"]


def test_intents_api_and_usage_match_the_oracle(built):
    _, full = built
    events = staged_events(full)
    intents = oracle.intents_daily(
        events,
        low_confidence_threshold=LOW_CONFIDENCE,
        fallback_intents=FALLBACK_INTENTS,
        intent_event_types=("intent_matched",),
    )
    keys = ["event_date", "account_id", "bot_id", "bot_version", "intent"]
    actual = full.frame("select * from marts.agg_intents_daily")
    assert_frame_matches(actual, intents, keys, "agg_intents_daily")

    api = oracle.api_daily(events, api_event_types=("api_call",))
    actual = full.frame("select * from marts.agg_api_calls_daily")
    assert_frame_matches(
        actual, api, ["event_date", "account_id", "bot_id", "api_name"], "agg_api_calls_daily"
    )

    usage = oracle.usage_daily(
        events, intent_event_types=("intent_matched",), api_event_types=("api_call",)
    )
    actual = full.frame("select * from marts.agg_usage_daily")
    assert_frame_matches(actual, usage, ["event_date", "account_id", "bot_id"], "agg_usage_daily")

    engagement = oracle.engagement_daily(events)
    actual = full.frame("select * from marts.agg_engagement_daily")
    keys = ["event_date", "account_id", "bot_id", "channel"]
    assert_frame_matches(actual, engagement, keys, "agg_engagement_daily")
    assert (actual.engagement_rate.dropna() <= 1).all()
    a9 = actual[actual.account_id == "a9"].set_index(["event_date", "channel"])
    assert a9.loc[(D1, "web"), ["unique_impressions", "engaged_impressions"]].tolist() == [2, 1]
    assert a9.loc[(D2, "web"), ["unique_impressions", "engaged_impressions"]].tolist() == [1, 1]
    assert a9.loc[(D2, "whatsapp"), "conversations_started"] == 1
    assert math.isnan(a9.loc[(D2, "whatsapp"), "engagement_rate"])


def test_containment_and_escalation_kpis_match_the_oracle(built):
    _, full = built
    events = staged_events(full)
    expected = oracle.containment_daily(events)
    actual = full.frame("""
        select
            kpi_date as session_date, account_id, bot_id,
            sum(denominator) filter (where kpi_name = 'containment_rate') as sessions,
            sum(numerator) filter (where kpi_name = 'escalation_rate') as sessions_with_ticket,
            sum(numerator) filter (where kpi_name = 'containment_rate')
                / sum(denominator) filter (where kpi_name = 'containment_rate')
                as containment_rate,
            sum(numerator) filter (where kpi_name = 'escalation_rate')
                / sum(denominator) filter (where kpi_name = 'escalation_rate')
                as escalation_rate
        from marts.agg_kpis_daily
        where kpi_name in ('containment_rate', 'escalation_rate')
        group by all
    """)
    assert_frame_matches(actual, expected, ["session_date", "account_id", "bot_id"], "containment")
    # rates never exceed 1 (k3 has three ticket_created events in one session)
    values = full.frame("select value from marts.agg_kpis_daily where value is not null")
    assert values["value"].between(0, 1).all()


def test_goal_completion_counts_conversations_on_their_first_day(built):
    _, full = built
    rows = full.frame("""
        select kpi_date, bot_id, channel, numerator, denominator
        from marts.agg_kpis_daily
        where kpi_name = 'goal_completion_rate' and account_id != 'a9'
        order by all
    """)
    # k1 (order_tracked, D1), k2 (payment_completed, started D1), k4 (appointment_booked, first
    # event the late conversation_started on D1); k3 (D2 whatsapp) and k5 (bot b2) have none
    got = [tuple(r) for r in rows.itertuples(index=False)]
    assert got == [(D1, "b1", "web", 3, 3), (D2, "b1", "whatsapp", 0, 1), (D3, "b2", "web", 0, 1)]
    monthly = full.frame(
        "select * from marts.agg_kpis_monthly "
        "where kpi_name = 'deeplink_conversation_share' and account_id != 'a9'"
    )
    # k1 and k4 (deeplink) and k3 (qr_code) of the four started conversations
    assert (monthly["numerator"].sum(), monthly["denominator"].sum()) == (3, 4)


def test_a_changed_kpi_config_recomputes_the_kpi_models(built, tmp_path):
    inc, full = built
    config = validate_kpi_config(CHANGED_KPIS)
    inc.load_kpis(config)
    inc.run_days(D5)  # an ordinary daily run picks the new configuration up
    full.load_kpis(config)
    full.dbt("--full-refresh")
    assert_same_models(inc, full)
    names = {row[0] for row in full.rows("marts.agg_kpis_daily")}
    assert names == {"containment_rate", "referred_impressions", "fallback_sessions"}
    referred = full.frame(
        "select sum(numerator) as n from marts.agg_kpis_daily "
        "where kpi_name = 'referred_impressions'"
    )
    assert referred["n"][0] == 2


def test_portable_next_load_macro_agrees_with_the_duckdb_one(tmp_path):
    """The default__ (window function) variant of the next-load lookup, used on adapters
    without ASOF joins, finds the same next load as DuckDB's ASOF join, ties included."""
    warehouse = tmp_path / "portable.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("""
        create table loads as
        select
            'e' || lpad(cast(i as varchar), 5, '0') as impression_id,
            i % 14 as impression_key,
            timestamp '2024-03-01' + to_minutes(cast(hash(i) % 6000 as bigint) * 30)
                as impression_at
        from range(3000) as t (i)
    """)
    con.execute("""
        create table instants as
        select impression_key, impression_at, min(impression_id) as impression_id
        from loads group by all
    """)
    con.close()
    sql = {}
    for variant in ("default", "duckdb"):
        inline = f"{{{{ {variant}__engagement_next_impression_loads('loads', 'instants') }}}}"
        result = subprocess.run(
            [
                str(DBT),
                "compile",
                "--quiet",
                "--inline",
                inline,
                "--project-dir",
                str(ROOT),
                "--profiles-dir",
                str(ROOT / "dbt_project"),
                "--target-path",
                str(tmp_path / "target"),
                "--log-path",
                str(tmp_path / "logs"),
            ],
            cwd=ROOT,
            env=dict(os.environ, BOTMETER_WAREHOUSE=str(warehouse)),
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout[-3000:]
        sql[variant] = result.stdout
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        portable = con.execute(f"select * from ({sql['default']}) order by all").fetchall()
        native = con.execute(f"select * from ({sql['duckdb']}) order by all").fetchall()
    finally:
        con.close()
    assert len(native) == 3000
    assert sum(n is not None for _, n in native) > 2000
    assert portable == native

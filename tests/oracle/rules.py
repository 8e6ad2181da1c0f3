"""Independent reference implementation ("oracle") of botmeter's billing rules.

Everything here is plain Python over sorted lists of events; pandas is only used to read
DataFrame inputs and to wrap the results in DataFrames. Clarity beats speed: each rule is a
straightforward loop so that it can be read next to the specification and checked by eye.
The dbt/DuckDB models must agree with these functions on every published figure.

Conventions
-----------
* Events are dicts (or DataFrame rows) that are already *staged*: one row per event_id.
  ``stage()`` implements the staging rule on raw rows.
* Timestamps are naive UTC ``datetime`` objects; event order is ``(occurred_at, event_id)``.
* Optional fields that are missing, ``NaN``, ``NaT`` or ``pd.NA`` become ``None``.
* Output frames are sorted by their grouping columns with NULLs last (DuckDB's default).
* Rates and shares are plain Python floats; compare them to SQL with a small tolerance.

Modelling choices that the specification leaves open (kept in one place on purpose):
* staging deduplicates first and then applies the occurred_at cut-off to the winning row;
* an "intent event" is any event with a non-null ``intent`` and an "API call" is any event
  with a non-null ``api_name`` (both can be narrowed with ``*_event_types`` parameters);
* ``low_confidence_share`` and ``fallback_share`` divide by all matches (a missing confidence
  is not low);
* ``usage_daily`` has one row for every (date, account, bot) that has any event at all;
* daily metrics other than sessions are keyed by ``event_date`` = date(occurred_at).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

STAGING_CUTOFF = datetime(2022, 2, 4)  # events before this instant are out of scope

IMPRESSION = "impression"
TICKET_CREATED = "ticket_created"
CONVERSATION_STARTED = "conversation_started"
MESSAGE = "message"
USER = "user"

DEFAULT_TIMEOUT_MINUTES = 10
DEFAULT_WINDOW_HOURS = 24

REQUIRED_FIELDS = (
    "event_id",
    "event_type",
    "occurred_at",
    "account_id",
    "bot_id",
    "channel",
    "customer_id",
)
OPTIONAL_FIELDS = (
    "bot_name",
    "bot_version",
    "conversation_id",
    "actor",
    "page_url",
    "intent",
    "confidence",
    "is_fallback",
    "api_name",
    "status_code",
    "latency_ms",
    "ticket_id",
    "kpi_name",
    "kpi_value",
)
FLOAT_FIELDS = ("confidence", "latency_ms", "kpi_value")

Event = dict[str, Any]
SessionId = tuple[str, str, str, datetime]  # (account_id, bot_id, customer_id, session_start_at)

# --------------------------------------------------------------------------------------
# Input normalisation and staging
# --------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """Turn pandas/numpy scalars into plain Python values and every kind of NULL into None."""
    if isinstance(value, pd.Timestamp):  # a datetime subclass, so test it first
        return value.to_pydatetime()
    if value is None or isinstance(value, (str, bool, int, date, list, tuple, set, dict)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    if pd.isna(value):  # NaT, pd.NA, numpy NaN
        return None
    if getattr(getattr(value, "dtype", None), "kind", None) == "M":  # numpy.datetime64
        return pd.Timestamp(value).to_pydatetime()
    if hasattr(value, "item"):  # other numpy scalars
        return value.item()
    return value


def _to_naive_utc(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _records(rows: Any) -> list[dict[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict("records")
    return [{key: _clean(value) for key, value in dict(row).items()} for row in rows]


def _normalize_event(row: dict[str, Any]) -> Event:
    event = dict(row)
    for name in OPTIONAL_FIELDS:
        event.setdefault(name, None)
    for name in REQUIRED_FIELDS:
        if event.get(name) is None:
            raise ValueError(f"event {event.get('event_id')!r} has no {name}")
    event["occurred_at"] = _to_naive_utc(event["occurred_at"], "occurred_at")
    for name in FLOAT_FIELDS:
        if event[name] is not None:
            event[name] = float(event[name])
    if event["status_code"] is not None:
        event["status_code"] = int(event["status_code"])
    if event["is_fallback"] is not None:
        event["is_fallback"] = bool(event["is_fallback"])
    return event


def normalize_events(events: Any) -> list[Event]:
    """Return the staged events as dicts with every field present, sorted by event order.

    Raises ValueError when a required field is NULL or an event_id occurs twice (staged
    input must already be deduplicated).
    """
    normalized = [_normalize_event(row) for row in _records(events)]
    seen: set[str] = set()
    for event in normalized:
        if event["event_id"] in seen:
            raise ValueError(f"duplicate event_id {event['event_id']!r} in staged events")
        seen.add(event["event_id"])
    normalized.sort(key=event_order)
    return normalized


def event_order(event: Event) -> tuple[datetime, str]:
    """The one ordering used everywhere: occurred_at, then event_id."""
    return (event["occurred_at"], event["event_id"])


def stage(raw_rows: Any, min_occurred_at: datetime = STAGING_CUTOFF) -> list[Event]:
    """Apply the staging rule to raw rows (which also carry arrival_date/source_file/line_number).

    1. Keep one row per event_id: the earliest arrival wins, ordered by
       (arrival_date, source_file, line_number). (A complete tie keeps the first row seen.)
    2. Then keep only events whose (winning row's) occurred_at >= ``min_occurred_at``.

    Returns the winning rows (all their columns, normalised) sorted by event order.
    """
    winners: dict[str, tuple[tuple[Any, Any, Any], dict[str, Any]]] = {}
    for row in _records(raw_rows):
        row["occurred_at"] = _to_naive_utc(row["occurred_at"], "occurred_at")
        arrival = (row["arrival_date"], row["source_file"], row["line_number"])
        event_id = row["event_id"]
        if event_id not in winners or arrival < winners[event_id][0]:
            winners[event_id] = (arrival, row)
    kept = [row for _, row in winners.values() if row["occurred_at"] >= min_occurred_at]
    return normalize_events(kept)


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


def session_key(event: Event) -> tuple[str, str, str]:
    return (event["account_id"], event["bot_id"], event["customer_id"])


def is_user_activity(event: Event) -> bool:
    """Only user events that are not impressions start or extend a session."""
    return event["actor"] == USER and event["event_type"] != IMPRESSION


@dataclass
class Session:
    account_id: str
    bot_id: str
    customer_id: str
    start_at: datetime  # first user event
    end_at: datetime  # last user event
    window_end: datetime  # end_at + timeout, exclusive
    user_events: list[Event] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # every non-impression event in window

    @property
    def session_id(self) -> SessionId:
        return (self.account_id, self.bot_id, self.customer_id, self.start_at)

    @property
    def session_date(self) -> date:
        return self.start_at.date()

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(sorted({event["channel"] for event in self.user_events}))

    @property
    def first_channel(self) -> str:
        return self.user_events[0]["channel"]

    @property
    def conversations(self) -> tuple[str, ...]:
        ids = {event["conversation_id"] for event in self.events}
        return tuple(sorted(ids - {None}))

    @property
    def tickets(self) -> tuple[str, ...]:
        ids = {event["ticket_id"] for event in self.events if event["event_type"] == TICKET_CREATED}
        return tuple(sorted(ids - {None}))


class SessionModel:
    """Sessions of a set of staged events plus a lookup "which session contains this event"."""

    def __init__(self, events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES):
        self.events = normalize_events(events)
        self.timeout = timedelta(minutes=timeout_minutes)
        self.sessions: list[Session] = []
        self.explain_rows: list[dict[str, Any]] = []
        self._sessions_by_key: dict[tuple[str, str, str], list[Session]] = defaultdict(list)
        self._build()

    def _build(self) -> None:
        user_events_by_key: dict[tuple[str, str, str], list[Event]] = defaultdict(list)
        for event in self.events:  # already in event order
            if is_user_activity(event):
                user_events_by_key[session_key(event)].append(event)

        for key in sorted(user_events_by_key):
            previous: Event | None = None
            current: Session | None = None
            for event in user_events_by_key[key]:
                if previous is None:
                    gap = None
                    reason = "first_activity"
                else:
                    gap = event["occurred_at"] - previous["occurred_at"]
                    reason = "inactivity_gap" if gap >= self.timeout else None
                if reason is not None:
                    current = Session(*key, event["occurred_at"], event["occurred_at"], None)
                    self._sessions_by_key[key].append(current)
                    self.sessions.append(current)
                current.user_events.append(event)
                current.end_at = event["occurred_at"]
                current.window_end = current.end_at + self.timeout
                self.explain_rows.append(
                    {
                        "account_id": key[0],
                        "bot_id": key[1],
                        "customer_id": key[2],
                        "event_id": event["event_id"],
                        "occurred_at": event["occurred_at"],
                        "session_start_at": current.start_at,
                        "gap_seconds": None if gap is None else gap.total_seconds(),
                        "new_session_reason": reason,
                    }
                )
                previous = event

        for event in self.events:
            if event["event_type"] == IMPRESSION:
                continue
            session = self.session_for(event)
            if session is not None:
                session.events.append(event)

    def session_at(self, key: tuple[str, str, str], at: datetime) -> Session | None:
        """The session of ``key`` whose window [start, last user event + timeout) holds ``at``."""
        candidates = self._sessions_by_key.get(key, [])
        # Windows of one key never overlap: the next session starts >= previous window end.
        index = bisect.bisect_right([s.start_at for s in candidates], at) - 1
        if index >= 0 and at < candidates[index].window_end:
            return candidates[index]
        return None

    def session_for(self, event: Event) -> Session | None:
        if event["event_type"] == IMPRESSION:
            return None
        return self.session_at(session_key(event), event["occurred_at"])


# --------------------------------------------------------------------------------------
# Helpers for output
# --------------------------------------------------------------------------------------


def _nulls_last(values: Iterable[Any]) -> tuple[tuple[bool, Any], ...]:
    return tuple((value is None, value) for value in values)


# Columns that are always float64 (NULL -> NaN), even when every value is NULL.
FLOAT_COLUMNS = {
    "gap_seconds",
    "avg_confidence",
    "p50_confidence",
    "fallback_share",
    "low_confidence_share",
    "error_rate",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "latency_max",
    "containment_rate",
    "engagement_rate",
    "escalation_rate",
}


def _frame(rows: list[dict[str, Any]], columns: list[str], sort_by: list[str]) -> pd.DataFrame:
    rows = sorted(rows, key=lambda row: _nulls_last(row[name] for name in sort_by))
    frame = pd.DataFrame(rows, columns=columns)
    for name in columns:
        if name in FLOAT_COLUMNS:
            frame[name] = frame[name].astype("float64")
    return frame


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile_cont(values: Iterable[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy.percentile default, quantile_cont)."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _month(day: date) -> date:
    return day.replace(day=1)


# --------------------------------------------------------------------------------------
# Session outputs
# --------------------------------------------------------------------------------------

SESSION_COLUMNS = [
    "account_id",
    "bot_id",
    "customer_id",
    "session_start_at",
    "session_end_at",
    "session_date",
    "user_event_count",
    "conversation_count",
    "ticket_count",
    "channel_count",
    "first_channel",
    "bot_name",
    "bot_version",
    "channels",
    "conversations",
    "tickets",
]
SESSION_ORDER = ["account_id", "bot_id", "customer_id", "session_start_at"]


def sessions(events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES) -> pd.DataFrame:
    model = SessionModel(events, timeout_minutes)
    rows = []
    for s in model.sessions:
        first = s.user_events[0]
        rows.append(
            {
                "account_id": s.account_id,
                "bot_id": s.bot_id,
                "customer_id": s.customer_id,
                "session_start_at": s.start_at,
                "session_end_at": s.end_at,
                "session_date": s.session_date,
                "user_event_count": len(s.user_events),
                "conversation_count": len(s.conversations),
                "ticket_count": len(s.tickets),
                "channel_count": len(s.channels),
                "first_channel": s.first_channel,
                "bot_name": first["bot_name"],
                "bot_version": first["bot_version"],
                "channels": s.channels,
                "conversations": s.conversations,
                "tickets": s.tickets,
            }
        )
    return _frame(rows, SESSION_COLUMNS, SESSION_ORDER)


def session_conversations(
    events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
) -> pd.DataFrame:
    model = SessionModel(events, timeout_minutes)
    rows = []
    for s in model.sessions:
        for conversation_id in s.conversations:
            rows.append(
                {
                    "account_id": s.account_id,
                    "bot_id": s.bot_id,
                    "customer_id": s.customer_id,
                    "session_start_at": s.start_at,
                    "conversation_id": conversation_id,
                }
            )
    columns = SESSION_ORDER + ["conversation_id"]
    return _frame(rows, columns, columns)


def explain_sessions(events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES) -> pd.DataFrame:
    """One row per user event: which session it landed in and why a session started there."""
    model = SessionModel(events, timeout_minutes)
    columns = [
        "account_id",
        "bot_id",
        "customer_id",
        "event_id",
        "occurred_at",
        "session_start_at",
        "gap_seconds",
        "new_session_reason",
    ]
    order = ["account_id", "bot_id", "customer_id", "occurred_at", "event_id"]
    return _frame(model.explain_rows, columns, order)


TICKET_COLUMNS = [
    "ticket_id",
    "conversation_id",
    "ticket_created_at",
    "account_id",
    "bot_id",
    "customer_id",
    "channel",
    "session_start_at",
]


def _first_ticket_events(events: list[Event]) -> dict[str, Event]:
    """ticket_id -> its earliest ticket_created event (by occurred_at, event_id)."""
    first: dict[str, Event] = {}
    for event in events:  # in event order
        if event["event_type"] == TICKET_CREATED and event["ticket_id"] is not None:
            first.setdefault(event["ticket_id"], event)
    return first


def tickets(events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES) -> pd.DataFrame:
    model = SessionModel(events, timeout_minutes)
    rows = []
    for ticket_id, event in _first_ticket_events(model.events).items():
        session = model.session_for(event)
        rows.append(
            {
                "ticket_id": ticket_id,
                "conversation_id": event["conversation_id"],
                "ticket_created_at": event["occurred_at"],
                "account_id": event["account_id"],
                "bot_id": event["bot_id"],
                "customer_id": event["customer_id"],
                "channel": event["channel"],
                "session_start_at": None if session is None else session.start_at,
            }
        )
    return _frame(rows, TICKET_COLUMNS, ["ticket_id"])


def _session_rollup(
    model: SessionModel, monthly: bool, by_channel: bool
) -> dict[tuple[Any, ...], tuple[set[SessionId], set[str]]]:
    groups: dict[tuple[Any, ...], tuple[set[SessionId], set[str]]] = defaultdict(
        lambda: (set(), set())
    )
    for s in model.sessions:
        period = _month(s.session_date) if monthly else s.session_date
        # A session counts once in every channel of its user events.
        for channel in s.channels if by_channel else [None]:
            key = (period, s.account_id, s.bot_id) + ((channel,) if by_channel else ())
            session_ids, ticket_ids = groups[key]
            session_ids.add(s.session_id)
            ticket_ids.update(s.tickets)
    return groups


def _session_rollup_frame(
    events: Any, timeout_minutes: float, monthly: bool, by_channel: bool
) -> pd.DataFrame:
    model = SessionModel(events, timeout_minutes)
    period_column = "session_month" if monthly else "session_date"
    keys = [period_column, "account_id", "bot_id"] + (["channel"] if by_channel else [])
    rows = []
    for key, (session_ids, ticket_ids) in _session_rollup(model, monthly, by_channel).items():
        row = dict(zip(keys, key, strict=True))
        row["sessions"] = len(session_ids)
        row["tickets"] = len(ticket_ids)
        rows.append(row)
    return _frame(rows, keys + ["sessions", "tickets"], keys)


def sessions_daily(events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES) -> pd.DataFrame:
    return _session_rollup_frame(events, timeout_minutes, monthly=False, by_channel=True)


def sessions_daily_total(
    events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
) -> pd.DataFrame:
    return _session_rollup_frame(events, timeout_minutes, monthly=False, by_channel=False)


def sessions_monthly(events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES) -> pd.DataFrame:
    return _session_rollup_frame(events, timeout_minutes, monthly=True, by_channel=True)


def sessions_monthly_total(
    events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
) -> pd.DataFrame:
    return _session_rollup_frame(events, timeout_minutes, monthly=True, by_channel=False)


def conversations(events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES) -> pd.DataFrame:
    model = SessionModel(events, timeout_minutes)
    events_by_conversation: dict[str, list[Event]] = defaultdict(list)
    for event in model.events:
        if event["event_type"] != IMPRESSION and event["conversation_id"] is not None:
            events_by_conversation[event["conversation_id"]].append(event)
    rows = []
    for conversation_id, conversation_events in events_by_conversation.items():
        session_ids = set()
        ticket_ids = set()
        for event in conversation_events:
            session = model.session_for(event)
            if session is not None:
                session_ids.add(session.session_id)
            if event["event_type"] == TICKET_CREATED and event["ticket_id"] is not None:
                ticket_ids.add(event["ticket_id"])
        rows.append(
            {
                "conversation_id": conversation_id,
                "conversation_created_at": min(e["occurred_at"] for e in conversation_events),
                "conversation_updated_at": max(e["occurred_at"] for e in conversation_events),
                "session_count": len(session_ids),
                "ticket_count": len(ticket_ids),
            }
        )
    columns = [
        "conversation_id",
        "conversation_created_at",
        "conversation_updated_at",
        "session_count",
        "ticket_count",
    ]
    return _frame(rows, columns, ["conversation_id"])


def containment_daily(
    events: Any, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
) -> pd.DataFrame:
    model = SessionModel(events, timeout_minutes)
    counts: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in model.sessions:
        counter = counts[(s.session_date, s.account_id, s.bot_id)]
        counter[0] += 1
        if s.tickets:
            counter[1] += 1
    rows = []
    for (session_date, account_id, bot_id), (total, with_ticket) in counts.items():
        rows.append(
            {
                "session_date": session_date,
                "account_id": account_id,
                "bot_id": bot_id,
                "sessions": total,
                "sessions_with_ticket": with_ticket,
                "containment_rate": (total - with_ticket) / total,
                "escalation_rate": with_ticket / total,
            }
        )
    columns = [
        "session_date",
        "account_id",
        "bot_id",
        "sessions",
        "sessions_with_ticket",
        "containment_rate",
        "escalation_rate",
    ]
    return _frame(rows, columns, ["session_date", "account_id", "bot_id"])


# --------------------------------------------------------------------------------------
# Impressions
# --------------------------------------------------------------------------------------


def _impression_rows(events: list[Event], window_hours: float) -> list[dict[str, Any]]:
    window = timedelta(hours=window_hours)
    impressions_by_key: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for event in events:  # in event order
        if event["event_type"] == IMPRESSION:
            key = (event["account_id"], event["bot_id"], event["customer_id"], event["page_url"])
            impressions_by_key[key].append(event)

    rows = []
    for key, key_events in impressions_by_key.items():
        unique: Event | None = None
        window_end: datetime | None = None
        for event in key_events:
            # Anchored windows: the unique impression opens [its time, its time + window);
            # the first impression at or after the window end is the next unique one.
            if unique is None or event["occurred_at"] >= window_end:
                unique = event
                window_end = event["occurred_at"] + window
            rows.append(
                {
                    "impression_id": event["event_id"],
                    "unique_impression_id": unique["event_id"],
                    "is_unique": unique is event,
                    "account_id": key[0],
                    "bot_id": key[1],
                    "customer_id": key[2],
                    "page_url": key[3],
                    "impression_at": event["occurred_at"],
                    "channel": event["channel"],
                }
            )
    return rows


IMPRESSION_COLUMNS = [
    "impression_id",
    "unique_impression_id",
    "is_unique",
    "account_id",
    "bot_id",
    "customer_id",
    "page_url",
    "impression_at",
]


def impressions(events: Any, window_hours: float = DEFAULT_WINDOW_HOURS) -> pd.DataFrame:
    rows = _impression_rows(normalize_events(events), window_hours)
    order = ["account_id", "bot_id", "customer_id", "page_url", "impression_at", "impression_id"]
    return _frame(rows, IMPRESSION_COLUMNS, order)


def impressions_daily(events: Any, window_hours: float = DEFAULT_WINDOW_HOURS) -> pd.DataFrame:
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in _impression_rows(normalize_events(events), window_hours):
        key = (row["impression_at"].date(), row["account_id"], row["bot_id"], row["page_url"])
        counts[key][0] += 1
        if row["is_unique"]:
            counts[key][1] += 1
    keys = ["impression_date", "account_id", "bot_id", "page_url"]
    rows = []
    for key, (total, unique) in counts.items():
        row = dict(zip(keys, key, strict=True))
        row["impressions"] = total
        row["unique_impressions"] = unique
        rows.append(row)
    return _frame(rows, keys + ["impressions", "unique_impressions"], keys)


def engagement_daily(events: Any, window_hours: float = DEFAULT_WINDOW_HOURS) -> pd.DataFrame:
    """Per (event_date, account_id, bot_id, channel): unique impressions, those engaged (their
    visitor started a conversation with the bot within the impression's window, end
    exclusive), the rate engaged / unique, and conversations started there."""
    events = normalize_events(events)
    window = timedelta(hours=window_hours)
    starts_by_visitor: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
    keys = ["event_date", "account_id", "bot_id", "channel"]
    counts: dict[tuple[Any, ...], dict[str, int]] = defaultdict(
        lambda: {"unique_impressions": 0, "engaged_impressions": 0, "conversations_started": 0}
    )
    for event in events:
        if event["event_type"] == CONVERSATION_STARTED:
            visitor = (event["account_id"], event["bot_id"], event["customer_id"])
            starts_by_visitor[visitor].append(event["occurred_at"])
            key = (event["occurred_at"].date(), *visitor[:2], event["channel"])
            counts[key]["conversations_started"] += 1
    for row in _impression_rows(events, window_hours):
        if not row["is_unique"]:
            continue
        key = (row["impression_at"].date(), row["account_id"], row["bot_id"], row["channel"])
        counts[key]["unique_impressions"] += 1
        visitor = (row["account_id"], row["bot_id"], row["customer_id"])
        start, end = row["impression_at"], row["impression_at"] + window
        if row["customer_id"] is not None and any(
            start <= at < end for at in starts_by_visitor.get(visitor, ())
        ):
            counts[key]["engaged_impressions"] += 1
    rows = []
    for key, figures in counts.items():
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                **figures,
                "engagement_rate": _share(
                    figures["engaged_impressions"], figures["unique_impressions"]
                ),
            }
        )
    columns = keys + [
        "unique_impressions",
        "engaged_impressions",
        "engagement_rate",
        "conversations_started",
    ]
    return _frame(rows, columns, keys)


# --------------------------------------------------------------------------------------
# Intents, API calls, usage
# --------------------------------------------------------------------------------------


def is_intent_event(event: Event, intent_event_types: Iterable[str] | None = None) -> bool:
    if event["intent"] is None:
        return False
    return intent_event_types is None or event["event_type"] in intent_event_types


def is_api_call(event: Event, api_event_types: Iterable[str] | None = None) -> bool:
    if event["api_name"] is None:
        return False
    return api_event_types is None or event["event_type"] in api_event_types


def is_error_call(event: Event) -> bool:
    return event["status_code"] is None or event["status_code"] >= 400


def intents_daily(
    events: Any,
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES,
    low_confidence_threshold: float = 0.5,
    fallback_intents: Iterable[str] = ("fallback",),
    intent_event_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Per (event_date, account_id, bot_id, bot_version, intent).

    p50_confidence uses statistics.median, which averages the two middle values for an even
    count - the same as SQL's exact interpolating median (quantile_cont(0.5) / median()).
    Shares divide by all matches; a NULL confidence is not "low".
    """
    model = SessionModel(events, timeout_minutes)
    fallback_intents = set(fallback_intents)
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for event in model.events:
        if is_intent_event(event, intent_event_types):
            key = (
                event["occurred_at"].date(),
                event["account_id"],
                event["bot_id"],
                event["bot_version"],
                event["intent"],
            )
            groups[key].append(event)

    keys = ["event_date", "account_id", "bot_id", "bot_version", "intent"]
    rows = []
    for key, group in groups.items():
        confidences = [e["confidence"] for e in group if e["confidence"] is not None]
        session_ids = {s.session_id for e in group if (s := model.session_for(e)) is not None}
        conversation_ids = {e["conversation_id"] for e in group} - {None}
        fallbacks = [
            e for e in group if e["is_fallback"] is True or e["intent"] in fallback_intents
        ]
        low = [c for c in confidences if c < low_confidence_threshold]
        row = dict(zip(keys, key, strict=True))
        row.update(
            {
                "matches": len(group),
                "sessions": len(session_ids),
                "conversations": len(conversation_ids),
                "avg_confidence": statistics.fmean(confidences) if confidences else None,
                "p50_confidence": statistics.median(confidences) if confidences else None,
                "fallback_share": _share(len(fallbacks), len(group)),
                "low_confidence_share": _share(len(low), len(group)),
            }
        )
        rows.append(row)
    columns = keys + [
        "matches",
        "sessions",
        "conversations",
        "avg_confidence",
        "p50_confidence",
        "fallback_share",
        "low_confidence_share",
    ]
    return _frame(rows, columns, keys)


def api_daily(
    events: Any,
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES,
    api_event_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Per (event_date, account_id, bot_id, api_name). Error = status_code >= 400 or missing."""
    model = SessionModel(events, timeout_minutes)
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for event in model.events:
        if is_api_call(event, api_event_types):
            key = (event["occurred_at"].date(), event["account_id"], event["bot_id"])
            groups[key + (event["api_name"],)].append(event)

    keys = ["event_date", "account_id", "bot_id", "api_name"]
    rows = []
    for key, group in groups.items():
        errors = [e for e in group if is_error_call(e)]
        latencies = [e["latency_ms"] for e in group if e["latency_ms"] is not None]
        error_sessions = {s.session_id for e in errors if (s := model.session_for(e)) is not None}
        row = dict(zip(keys, key, strict=True))
        row.update(
            {
                "calls": len(group),
                "error_calls": len(errors),
                "error_rate": _share(len(errors), len(group)),
                "latency_p50": percentile_cont(latencies, 0.50),
                "latency_p95": percentile_cont(latencies, 0.95),
                "latency_p99": percentile_cont(latencies, 0.99),
                "latency_max": max(latencies) if latencies else None,
                "sessions_with_errors": len(error_sessions),
            }
        )
        rows.append(row)
    columns = keys + [
        "calls",
        "error_calls",
        "error_rate",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "latency_max",
        "sessions_with_errors",
    ]
    return _frame(rows, columns, keys)


USAGE_METRICS = [
    "sessions",
    "conversations_started",
    "user_messages",
    "bot_messages",
    "agent_messages",
    "unique_impressions",
    "tickets",
    "intents_matched",
    "api_calls",
]


def usage_daily(
    events: Any,
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    intent_event_types: Iterable[str] | None = None,
    api_event_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Per (event_date, account_id, bot_id): one row for every day/account/bot with any event."""
    model = SessionModel(events, timeout_minutes)
    counts: dict[tuple[date, str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(USAGE_METRICS, 0)
    )
    ticket_ids: dict[tuple[date, str, str], set[str]] = defaultdict(set)

    for s in model.sessions:
        counts[(s.session_date, s.account_id, s.bot_id)]["sessions"] += 1

    for event in model.events:
        key = (event["occurred_at"].date(), event["account_id"], event["bot_id"])
        counter = counts[key]  # creates the row even when nothing below applies
        if event["event_type"] == CONVERSATION_STARTED:
            counter["conversations_started"] += 1
        if event["event_type"] == MESSAGE and event["actor"] in ("user", "bot", "agent"):
            counter[f"{event['actor']}_messages"] += 1
        if event["event_type"] == TICKET_CREATED and event["ticket_id"] is not None:
            ticket_ids[key].add(event["ticket_id"])
        if is_intent_event(event, intent_event_types):
            counter["intents_matched"] += 1
        if is_api_call(event, api_event_types):
            counter["api_calls"] += 1

    for row in _impression_rows(model.events, window_hours):
        if row["is_unique"]:
            key = (row["impression_at"].date(), row["account_id"], row["bot_id"])
            counts[key]["unique_impressions"] += 1

    keys = ["event_date", "account_id", "bot_id"]
    rows = []
    for key, counter in counts.items():
        row = dict(zip(keys, key, strict=True))
        row.update(counter)
        row["tickets"] = len(ticket_ids.get(key, ()))
        rows.append(row)
    return _frame(rows, keys + USAGE_METRICS, keys)

"""DDL of the raw layer: every number botmeter publishes is computed from these tables.

`raw.events` keeps every accepted copy of an event (duplicates included) with its provenance,
so staging can pick the earliest arrival whatever order partitions were landed in.
"""

from __future__ import annotations

import duckdb

EVENT_TYPES: tuple[str, ...] = (
    "impression",
    "conversation_started",
    "conversation_closed",
    "message",
    "intent_matched",
    "api_call",
    "ticket_created",
    "kpi_event",
)
ACTORS: tuple[str, ...] = ("user", "bot", "agent", "system")

# Fields every event must carry (null or empty string counts as missing).
REQUIRED_FIELDS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "occurred_at",
    "account_id",
    "bot_id",
    "channel",
    "customer_id",
)

# Extra fields each event type must carry.
REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    "impression": ("page_url",),
    "conversation_started": ("conversation_id", "actor"),
    "conversation_closed": ("conversation_id", "actor"),
    "message": ("conversation_id", "actor"),
    "intent_matched": ("intent", "confidence"),
    "api_call": ("api_name",),
    "ticket_created": ("ticket_id", "conversation_id"),
    "kpi_event": ("kpi_name",),
}

REJECTION_REASONS: tuple[str, ...] = (
    "unreadable_file",
    "truncated_file",
    "invalid_utf8",
    "blank_line",
    "invalid_json",
    "missing_field",
    "invalid_field",
    "unknown_event_type",
    "invalid_timestamp",
    "before_data_start",
    "future_timestamp",
    "invalid_value",
)

RAW_EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "varchar not null"),
    ("event_type", "varchar not null"),
    ("occurred_at", "timestamp not null"),
    ("account_id", "varchar not null"),
    ("bot_id", "varchar not null"),
    ("channel", "varchar not null"),
    ("customer_id", "varchar not null"),
    ("bot_name", "varchar"),
    ("bot_version", "varchar"),
    ("conversation_id", "varchar"),
    ("actor", "varchar"),
    ("page_url", "varchar"),
    ("intent", "varchar"),
    ("confidence", "double"),
    ("is_fallback", "boolean"),
    ("api_name", "varchar"),
    ("status_code", "integer"),
    ("latency_ms", "double"),
    ("ticket_id", "varchar"),
    ("kpi_name", "varchar"),
    ("kpi_value", "double"),
    ("properties", "json"),
    ("arrival_date", "date not null"),
    ("source_file", "varchar not null"),
    ("line_number", "bigint not null"),
)

DDL = f"""
create schema if not exists raw;
create table if not exists raw.events (
    {", ".join(f"{name} {kind}" for name, kind in RAW_EVENT_COLUMNS)}
);
create table if not exists raw.quarantine (
    arrival_date date not null,
    source_file varchar not null,
    line_number bigint,
    raw_line varchar,
    reason varchar not null,
    reason_detail varchar
);
create table if not exists raw.load_audit (
    arrival_date date primary key,
    files integer not null,
    lines_read bigint not null,
    accepted bigint not null,
    rejected bigint not null,
    duplicates_in_partition bigint not null,
    rejected_by_reason json not null,
    files_fingerprint varchar,
    events_checksum varchar,
    events_replaced bigint
);
-- Warehouses created before these columns existed get them (null = unknown).
alter table raw.load_audit add column if not exists files_fingerprint varchar;
alter table raw.load_audit add column if not exists events_checksum varchar;
alter table raw.load_audit add column if not exists events_replaced bigint;
"""


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables if they do not exist (idempotent)."""
    con.execute(DDL)

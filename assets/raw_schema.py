"""DDL of the raw layer: every number botmeter publishes is computed from these tables.

`raw.events` keeps every accepted copy of an event (duplicates included) with its provenance,
so staging can pick the earliest arrival whatever order partitions were landed in. Every line
of every file is either in `raw.events` or in `raw.quarantine`, and every entry of an arrival
folder is in `raw.landing_files` (read, or skipped with the reason).

`raw.load_history` is append-only: one row per landing of an arrival date, numbered by
`load_id` (a sequence, never reused). The dbt models process the loads newer than the last
successful build (dbt_project/macros/build_record.sql), so a day that was landed but never
built is built by the next run, whatever happened in between.
"""

from __future__ import annotations

import duckdb

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

# The per-date audit of the current landing, and the history of every landing.
LOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("arrival_date", "date not null"),
    ("load_id", "bigint not null"),
    ("landed_at", "timestamp not null"),
    ("files", "integer not null"),
    ("files_skipped", "integer not null"),
    ("lines_read", "bigint not null"),
    ("accepted", "bigint not null"),
    ("rejected", "bigint not null"),
    # copies of an event_id beyond the first within this arrival day's files
    ("duplicates_within_day", "bigint not null"),
    # accepted rows whose event_id had already arrived on an earlier arrival day (as of
    # this landing): staging keeps the earlier copy
    ("duplicates_of_earlier_days", "bigint not null"),
    ("rejected_by_reason", "json not null"),
    # sha-256 of the folder's event files (names and contents) and skipped entries
    ("files_fingerprint", "varchar not null"),
    # rows and the order-free sum of their hashes: equal rows give an equal checksum
    ("events_checksum", "varchar not null"),
    # rows of the date's previous landing that this one lacks (removed or changed)
    ("events_replaced", "bigint not null"),
    # the rows differ from the previous landing's (false: the models have nothing to redo)
    ("has_changed_rows", "boolean not null"),
    # the raw contract (data start, event types, actors) and check settings it was landed with
    ("contract_fingerprint", "varchar not null"),
    # whether the blocking raw checks passed on this landing (null: not checked yet)
    ("contract_passed", "boolean"),
)

LANDING_FILE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("arrival_date", "date not null"),
    ("file_name", "varchar not null"),
    ("is_landed", "boolean not null"),
    ("size_bytes", "bigint"),
    ("mtime_ns", "bigint"),
    ("ctime_ns", "bigint"),
    ("inode", "bigint"),
    ("content_sha256", "varchar"),
    ("lines_read", "bigint"),
    # why a file was skipped, or what to know about a landed one (e.g. truncated gzip)
    ("note", "varchar"),
)


def _columns(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in columns)


DDL = f"""
create schema if not exists raw;
create sequence if not exists raw.load_ids start 1;
create table if not exists raw.events ({_columns(RAW_EVENT_COLUMNS)});
create table if not exists raw.quarantine (
    arrival_date date not null,
    source_file varchar not null,
    line_number bigint,
    raw_line varchar,
    reason varchar not null,
    reason_detail varchar
);
create table if not exists raw.load_audit ({_columns(LOAD_COLUMNS)}, primary key (arrival_date));
create table if not exists raw.load_history ({_columns(LOAD_COLUMNS)});
create table if not exists raw.landing_files ({_columns(LANDING_FILE_COLUMNS)});
"""


class RawSchemaError(RuntimeError):
    """The warehouse's raw layer was written by an incompatible botmeter."""


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables if they do not exist (idempotent)."""
    exists = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'load_audit'"
    ).fetchone()[0]
    if exists:
        has_load_id = con.execute(
            "select count(*) from information_schema.columns where table_schema = 'raw' "
            "and table_name = 'load_audit' and column_name = 'load_id'"
        ).fetchone()[0]
        if not has_load_id:
            raise RawSchemaError(
                "the raw layer of this warehouse was written by an older botmeter: run "
                "`botmeter run --full-refresh` once to re-land it"
            )
    con.execute(DDL)

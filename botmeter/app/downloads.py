"""CSV downloads of what a page shows: the current page of the underlying data (one row per
session and conversation, as on screen) and a session's explanation.

Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading
apostrophe: ids and names come from event data that anyone talking to a bot can shape.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from starlette.responses import Response

SESSION_COLUMNS = [
    "session_id",
    "account_id",
    "bot_id",
    "bot_name",
    "bot_version",
    "customer_id",
    "session_start_at",
    "session_end_at",
    "channels",
    "ticket_count",
    "conversation_count",
    "conversation_id",
    "conversation_created_at",
    "conversation_updated_at",
]
EXPLAIN_COLUMNS = [
    "event_id",
    "event_type",
    "channel",
    "conversation_id",
    "occurred_at",
    "previous_user_event_at",
    "gap_seconds",
    "new_session_reason",
    "is_session_start",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[cell(v) for v in row] for row in rows])
    return out.getvalue()


def sessions_rows(sessions: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for s in sessions:
        base = [s[c] for c in SESSION_COLUMNS[:11]]
        for conv in s["conversations"] or [None]:
            if conv is None:
                rows.append([*base, None, None, None])
            else:
                rows.append(
                    [
                        *base,
                        conv["conversation_id"],
                        conv["conversation_created_at"],
                        conv["conversation_updated_at"],
                    ]
                )
    return rows


def sessions_csv(sessions: list[dict[str, Any]]) -> str:
    return _csv(SESSION_COLUMNS, sessions_rows(sessions))


def explain_csv(events: list[dict[str, Any]]) -> str:
    return _csv(EXPLAIN_COLUMNS, [[e[c] for c in EXPLAIN_COLUMNS] for e in events])


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:120] or "download"


def attachment(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{safe_name(filename)}"',
            "cache-control": "no-store",
        },
    )

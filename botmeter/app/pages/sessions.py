"""Session Usage: the widgets, their underlying sessions, and why a session was counted."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from botmeter.app import charts, downloads
from botmeter.app.state import app_state, publish_info, reader
from botmeter.app.view import View, read_view
from botmeter.report import CHANNEL_NOTE, queries

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
COLUMNS = [  # (sort key, heading) of the underlying data table
    ("session_id", "Session"),
    ("session_start_at", "Start (UTC)"),
    ("session_end_at", "End (UTC)"),
    ("customer_id", "Customer"),
    ("bot_name", "Bot"),
    ("bot_version", "Version"),
    ("channels", "Channels"),
    ("ticket_count", "Tickets"),
    ("conversation_count", "Conv."),
]
REASONS = {
    "first_activity": "first activity",
    "inactivity_gap": "inactivity gap",
}


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _top(rows: list[dict[str, Any]]) -> int:
    """The longest bar of a table's inline bars."""
    return max((r["sessions"] for r in rows), default=0) or 1


def widgets(con, view: View) -> dict[str, Any]:
    """Every Session Usage widget for the view's scope (marks as in the CLI report)."""
    scope, today = view.scope, view.today
    totals = queries.session_totals(con, scope)
    by_day = queries.sessions_by_day(con, scope)
    daily = []
    for i in range(view.days):
        day = view.start + dt.timedelta(days=i)
        counts = by_day.get(day, {"sessions": 0, "tickets": 0})
        daily.append({"date": day.isoformat(), **counts, "is_filling": day >= today})
    monthly = []
    for row in queries.sessions_by_month(con, scope):
        month, last = row["month"], _month_end(row["month"])
        filling = month <= today <= last
        partial = view.start > month or view.end < last
        marks = [m for m, on in (("still filling", filling), ("partly in range", partial)) if on]
        monthly.append(
            {
                "month": month.isoformat()[:7],
                "sessions": int(row["sessions"]),
                "tickets": int(row["tickets"]),
                "is_filling": filling,
                "is_partial": partial,
                "mark": ", ".join(marks),
            }
        )
    by_bot = queries.sessions_by_bot(con, scope)
    by_version = queries.sessions_by_version(con, scope)
    by_channel = queries.sessions_by_channel(con, scope)
    engagement = queries.engagement(con, scope)
    intents = queries.intents(con, scope, limit=1)
    tiles = [
        ("sessions", "Sessions consumed", totals["sessions"], None),
        ("tickets", "Tickets", totals["tickets"], None),
        ("sessions_with_ticket", "Sessions with a ticket", totals["sessions_with_ticket"], None),
        ("conversations", "Conversations", totals["conversations"], None),
        (
            "avg_sessions_per_day",
            "Avg sessions / day",
            round(totals["sessions"] / view.days, 1),
            None,
        ),
        ("bots", "Bots", totals["bots"], None),
    ]
    rollup_tiles = [
        (
            "unique_impressions",
            "Unique impressions",
            engagement["unique_impressions"],
            "count",
            view.not_applied("engagement", "impressions"),
        ),
        (
            "engagement_rate",
            "Engagement rate",
            engagement["engagement_rate"],
            "pct",
            view.not_applied("engagement", "the engagement rate"),
        ),
        (
            "intent_matches",
            "Intent matches",
            intents["matches"],
            "count",
            view.not_applied("intents", "intent matches"),
        ),
        (
            "fallback_share",
            "Matches that fell back",
            intents["fallback_share"],
            "pct",
            view.not_applied("intents", "intent matches"),
        ),
    ]
    return {
        "totals": totals,
        "tiles": tiles,
        "rollup_tiles": rollup_tiles,
        "daily": daily,
        "monthly": monthly,
        "by_bot": by_bot,
        "by_version": by_version,
        "by_channel": by_channel,
        "bot_top": _top(by_bot),
        "version_top": _top(by_version),
        "channel_top": _top(by_channel),
        "channel_note": CHANNEL_NOTE,
        "filling_days": sum(d["is_filling"] for d in daily),
        "figures": {
            "trend": charts.daily_trend(daily),
            "monthly": charts.monthly(monthly),
        },
    }


def overview(request: Request) -> Response:
    state = app_state(request)
    with state.published.connect() as con:
        view = read_view(request, con, reader(request), state.clock())
        context = {"view": view, **publish_info(con)}
        if view.ok:
            context.update(widgets(con, view))
    return state.renderer.page(
        request,
        "sessions.html",
        status=view.status,
        page="sessions",
        title="Session Usage",
        **context,
    )


def _paging(request: Request) -> tuple[str, bool, int, int]:
    params = request.query_params
    sort = params.get("sort", "session_start_at")
    if sort not in queries.SESSION_SORTS:
        sort = "session_start_at"
    descending = params.get("dir", "desc") != "asc"
    try:
        size = int(params.get("size", DEFAULT_PAGE_SIZE))
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
    try:
        page = max(1, min(int(params.get("page", 1)), 10**7))
    except ValueError:
        page = 1
    return sort, descending, page, size


def _sessions(con, view: View, request: Request) -> dict[str, Any]:
    sort, descending, page, size = _paging(request)
    total, rows = queries.sessions_page(con, view.scope, sort, descending, (page - 1) * size, size)
    pages = max(1, math.ceil(total / size))
    if page > pages:  # past the end (the data changed, or an edited URL): the last page
        page = pages
        total, rows = queries.sessions_page(
            con, view.scope, sort, descending, (page - 1) * size, size
        )
    return {
        "rows": rows,
        "total": total,
        "sort": sort,
        "descending": descending,
        "page_no": page,
        "pages": pages,
        "size": size,
        "first_row": (page - 1) * size + 1 if rows else 0,
        "last_row": (page - 1) * size + len(rows),
    }


def data(request: Request) -> Response:
    """The underlying data of "Sessions consumed": the sessions in scope, one page."""
    state = app_state(request)
    with state.published.connect() as con:
        view = read_view(request, con, reader(request), state.clock())
        context = {"view": view, **publish_info(con)}
        if view.ok:
            context.update(_sessions(con, view, request))
    return state.renderer.page(
        request,
        "sessions_data.html",
        status=view.status,
        page="sessions",
        title="Sessions consumed — underlying data",
        columns=COLUMNS,
        page_sizes=PAGE_SIZES,
        **context,
    )


def data_csv(request: Request) -> Response:
    """The page of the table on screen, as CSV (one row per session and conversation)."""
    state = app_state(request)
    with state.published.connect() as con:
        view = read_view(request, con, reader(request), state.clock(), pickers=False)
        if not view.ok:
            return state.renderer.page(
                request,
                "error.html",
                status=view.status if view.status != 200 else 404,
                title="Nothing to download",
                message=view.error,
                page="sessions",
            )
        shown = _sessions(con, view, request)
    name = f"sessions_{view.start}_{view.end}_page{shown['page_no']}.csv"
    return downloads.attachment(downloads.sessions_csv(shown["rows"]), name)


def _explain(con, request: Request) -> dict[str, Any] | None:
    found = queries.session_explain(con, request.path_params["session_id"], reader(request).tenant)
    if found is None:
        return None
    rules = queries.rules(con)
    events = found["events"]
    start = next((e for e in events if e["is_session_start"]), events[0] if events else None)
    return {
        "session": found["session"],
        "events": events,
        "start_event": start,
        "timeout": rules["session_timeout_minutes"],
        "reasons": REASONS,
    }


def _not_found(request: Request) -> Response:
    return app_state(request).renderer.page(
        request,
        "error.html",
        status=404,
        page="sessions",
        title="No such session",
        message="There is no session with this id in the data you can see.",
    )


def explain(request: Request) -> Response:
    """Why a session was counted: its user events, the gap before each, why it started."""
    state = app_state(request)
    with state.published.connect() as con:
        found = _explain(con, request)
        info = publish_info(con)
    if found is None:
        return _not_found(request)
    back = "/sessions/data" + (f"?{request.url.query}" if request.url.query else "")
    return state.renderer.page(
        request,
        "explain.html",
        page="sessions",
        title=f"Session {found['session']['session_id']}",
        back=back,
        query=request.url.query,
        **found,
        **info,
    )


def explain_csv(request: Request) -> Response:
    state = app_state(request)
    with state.published.connect() as con:
        found = _explain(con, request)
    if found is None:
        return _not_found(request)
    name = f"session_{found['session']['session_id']}_explain.csv"
    return downloads.attachment(downloads.explain_csv(found["events"]), name)

"""The Session Usage report: its widgets as plain data, from the published warehouse.

Every figure comes from the query layer (botmeter/report/queries.py), which reads the
reporting models by name; the CLI report, the dashboard and the usage app share it, so the
three never disagree. Formats: botmeter/report/formats.py (text, JSON, CSV) and
botmeter/report/html.py (the dashboard).

Dates: the default range is the last 30 complete UTC days of the data (a day still filling,
today or later, never ends it); a range starting before the data start is clamped to it,
and the report says so; a day or month still filling, or a month only partly inside the
range, is marked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from botmeter import settings
from botmeter.report import queries
from botmeter.report.queries import SESSION_FILTERS, WIDGET_LABELS, QueryError, Scope

FILTERS = SESSION_FILTERS
DEFAULT_DAYS = 30
CHANNEL_NOTE = (
    "A session counts once in every channel it touched, so the channel volumes can add up to "
    "more than the sessions consumed."
)
ENGAGEMENT_NOTE = (
    "Engagement rate: the share of unique impressions (page loads with the messenger; a load "
    "opens a {hours} h window for its visitor and page) after which the same visitor started "
    "a conversation within that window."
)


class ReportError(Exception):
    """A report that cannot be produced as asked (bad filter, empty range, no file)."""


def open_published(path: Path) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if not path.is_file():
        raise ReportError(
            f"published warehouse {path} does not exist: run `botmeter run` (or `botmeter "
            "demo`) first, or pass --warehouse"
        )
    try:
        con = queries.connect(path)
    except duckdb.Error as exc:
        raise ReportError(f"cannot read the published warehouse {path}: {exc}") from None
    tables = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'reporting'"
        ).fetchall()
    }
    if not {"rpt_sessions", "rpt_session_channels"} <= tables:
        con.close()
        raise ReportError(
            f"{path} has no reporting models: it is not a botmeter published warehouse, or an "
            "older botmeter made it (run `botmeter run` to publish again)"
        )
    return con


def default_range(bounds: tuple[dt.date, dt.date], today: dt.date) -> tuple[dt.date, dt.date]:
    """The last DEFAULT_DAYS complete UTC days of the data: ending on the newest data day,
    but never on today or later (a day still filling)."""
    end = min(bounds[1], today - dt.timedelta(days=1))
    end = max(end, bounds[0])
    return max(end - dt.timedelta(days=DEFAULT_DAYS - 1), bounds[0]), end


def build_report(
    published: Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tenant: str | None = None,
    today: dt.date | None = None,
    **filters: list[str] | None,
) -> dict[str, Any]:
    """All widgets as plain data (dates as ISO strings). Raises ReportError with one line."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ReportError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    path = Path(published) if published else settings.published_path()
    con = open_published(path)
    try:
        return _build(con, path, start, end, tenant, today, filters)
    except QueryError as exc:
        raise ReportError(str(exc)) from None
    except duckdb.Error as exc:
        raise ReportError(f"{path}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


@dataclasses.dataclass(frozen=True)
class DateRange:
    """A reader's date range, resolved the one way every reader (report, dashboard, app)
    resolves it."""

    start: dt.date
    end: dt.date
    bounds: tuple[dt.date, dt.date]  # first and last session date of the data
    data_start: dt.date
    notes: tuple[str, ...] = ()


def resolve_range(
    con,
    start: dt.date | None,
    end: dt.date | None,
    tenant: str | None,
    today: dt.date,
) -> DateRange:
    """The range to show: the last DEFAULT_DAYS complete days of the data by default; a
    start before the data start moves to it (and says so). ReportError when nothing can
    be shown."""
    rules = queries.rules(con)
    data_start = dt.datetime.fromisoformat(rules["data_start_at"]).date()
    bounds = queries.data_range(con, tenant)
    if bounds is None:
        raise ReportError(
            "no sessions are published" + (f" for account {tenant}" if tenant else "") + " yet"
        )
    notes = []
    if start is not None and start < data_start:
        notes.append(
            f"the range starts at the data start {data_start}, not {start}: botmeter counts "
            "nothing before it"
        )
        start = data_start
    if end is not None and end < data_start:
        raise ReportError(
            f"the range ends ({end}) before the data start {data_start}: nothing is counted"
        )
    default_start, default_end = default_range(bounds, today)
    end = end or default_end
    start = start or max(min(default_start, end), data_start)
    if start > end:
        raise ReportError(f"the range starts ({start}) after it ends ({end})")
    return DateRange(start, end, bounds, data_start, tuple(notes))


def _build(con, path, start, end, tenant, today, filters) -> dict[str, Any]:
    today = today or dt.datetime.now(dt.UTC).date()
    rules = queries.rules(con)
    try:
        dates = resolve_range(con, start, end, tenant, today)
    except ReportError as exc:
        raise ReportError(f"{path}: {exc}") from None
    start, end, bounds = dates.start, dates.end, dates.bounds
    notes = list(dates.notes)
    values = {name: [v for v in (filters.get(name) or []) if v] for name in FILTERS}
    bot_ids = queries.resolve_bots(con, values["bot"], tenant) if values["bot"] else ()
    scope = Scope(
        start=start,
        end=end,
        tenant=tenant,
        bot=bot_ids,
        **{name: tuple(dict.fromkeys(values[name])) for name in FILTERS if name != "bot"},
    )
    queries.check_values(con, scope)
    described = _describe(scope, values["bot"])
    totals = queries.session_totals(con, scope)
    if totals["sessions"] == 0:
        raise ReportError(f"no sessions for {described} (data covers {bounds[0]}..{bounds[1]})")

    days = (end - start).days + 1
    by_day = queries.sessions_by_day(con, scope)
    daily = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        counts = by_day.get(day, {"sessions": 0, "tickets": 0})
        daily.append({"date": day.isoformat(), **counts, "is_filling": day >= today})
    monthly = []
    for row in queries.sessions_by_month(con, scope):
        month = row["month"]
        month_end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        monthly.append(
            {
                "month": month.isoformat()[:7],
                "sessions": int(row["sessions"]),
                "tickets": int(row["tickets"]),
                "is_filling": month <= today < month_end,
                "is_partial": start > month or end < month_end - dt.timedelta(days=1),
            }
        )
    if any(d["is_filling"] for d in daily) or any(m["is_filling"] for m in monthly):
        notes.append(f"marked days and months are still filling: today is {today} (UTC)")
    if any(m["is_partial"] for m in monthly):
        notes.append(f"marked months are only partly inside {start}..{end}")
    by_bot = [_ints(r, "sessions", "tickets") for r in queries.sessions_by_bot(con, scope)]
    by_version = [_ints(r, "sessions", "tickets") for r in queries.sessions_by_version(con, scope)]
    by_channel = [_ints(r, "sessions", "tickets") for r in queries.sessions_by_channel(con, scope)]
    kpis: dict[str, Any] = {
        **totals,
        "avg_sessions_per_day": round(totals["sessions"] / days, 1),
        "channels": len(by_channel),
    }
    engagement = queries.engagement(con, scope)
    intent_data = queries.intents(con, scope)
    kpis.update(
        {
            "unique_impressions": engagement["unique_impressions"],
            "engagement_rate": engagement["engagement_rate"],
            "intent_matches": intent_data["matches"],
            "fallback_share": intent_data["fallback_share"],
        }
    )
    not_applied = {
        widget: scope.not_applied(widget) for widget in WIDGET_LABELS if scope.not_applied(widget)
    }
    notes += [
        f"the {', '.join(sorted(filters_))} filter{'s' if len(filters_) > 1 else ''} "
        f"{'do' if len(filters_) > 1 else 'does'} not apply to {WIDGET_LABELS[widget]} "
        "(counted per day, account and bot)"
        for widget, filters_ in not_applied.items()
    ]
    notes += [CHANNEL_NOTE, ENGAGEMENT_NOTE.format(hours=rules["unique_impression_hours"])]
    accounts_seen = queries.accounts(con, tenant)
    scope_label = (
        f"account {tenant}"
        if tenant
        else f"account {scope.account[0]}"
        if len(scope.account) == 1
        else "all accounts"
        if not scope.account
        else f"accounts {', '.join(scope.account)}"
    )
    return {
        "title": "Session Usage",
        "source": str(path),
        "rules": rules,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "scope": scope_label,
        "accounts": accounts_seen,
        "data_range": {"from": bounds[0].isoformat(), "to": bounds[1].isoformat()},
        "filters": {"from": start.isoformat(), "to": end.isoformat(), **values},
        "description": described,
        "kpis": kpis,
        "daily": daily,
        "by_bot": by_bot,
        "by_version": by_version,
        "by_channel": by_channel,
        "monthly": monthly,
        "intents": intent_data["intents"][:10],
        "apis": queries.api_calls(con, scope)[:10],
        "kpi_values": queries.kpis(con, scope),
        "not_applied": not_applied,
        "notes": notes,
    }


def _ints(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**row, **{n: int(row[n]) for n in names}}


def _describe(scope: Scope, bot_values: list[str]) -> str:
    parts = [f"{scope.start}..{scope.end}"]
    for name, values in scope.filters().items():
        shown = bot_values if name == "bot" else values
        parts.append(f"{name.replace('_', ' ')}={','.join(shown)}")
    return " ".join(parts)

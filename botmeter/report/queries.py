"""The query layer of the report, the dashboard and the usage app: every figure they show,
read by name from the contracted reporting models (schema `reporting`) of the published
file, with bound parameters only.

A `Scope` is what a reader asked for: a date range, filters, and optionally the one account
the reader may see (the app started for an account). The account restriction is part of
every query, so nothing of another account can be reached by changing a filter.

Session widgets filter on every session filter. The daily rollups (impressions, engagement,
intents, API calls, KPIs) are per day, account and bot (and channel), so a customer,
conversation or session filter cannot narrow them: `not_applied` says which widget ignores
which filter, and every output says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

SESSION_FILTERS = (
    "account",
    "bot",
    "bot_version",
    "channel",
    "customer",
    "conversation",
    "session",
)
# Filters each rollup widget can apply (the others are reported as not applied).
ROLLUP_FILTERS = {
    "engagement": ("account", "bot", "channel"),
    "intents": ("account", "bot", "bot_version"),
    "apis": ("account", "bot"),
    "kpis": ("account", "bot", "channel"),
}
WIDGET_LABELS = {
    "engagement": "impressions and engagement rate",
    "intents": "intents",
    "apis": "API calls",
    "kpis": "KPIs",
}


class QueryError(Exception):
    """A question the published data cannot answer (unknown filter value, no data)."""


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a reader asked for. Filters are lists of accepted values (empty: any)."""

    start: dt.date
    end: dt.date
    account: tuple[str, ...] = ()
    bot: tuple[str, ...] = ()  # bot ids (names are resolved by `resolve_bots`)
    bot_version: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    customer: tuple[str, ...] = ()
    conversation: tuple[str, ...] = ()
    session: tuple[str, ...] = ()
    tenant: str | None = None  # the only account this reader may see

    def filters(self) -> dict[str, tuple[str, ...]]:
        return {name: getattr(self, name) for name in SESSION_FILTERS if getattr(self, name)}

    def not_applied(self, widget: str) -> list[str]:
        return [name for name in self.filters() if name not in ROLLUP_FILTERS[widget]]


def connect(published: Path) -> duckdb.DuckDBPyConnection:
    """The published file, read-only, in UTC."""
    con = duckdb.connect(str(published), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    return con


class _Where:
    """Conditions with their bound parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def values(self, column: str, values: tuple[str, ...]) -> None:
        if values:
            marks = ", ".join("?" for _ in values)
            self.add(f"{column} in ({marks})", *values)

    @property
    def sql(self) -> str:
        return " and ".join(self.parts) if self.parts else "true"


def _tenant(where: _Where, scope: Scope, column: str = "account_id") -> None:
    if scope.tenant is not None:
        where.add(f"{column} = ?", scope.tenant)


def session_where(scope: Scope, alias: str = "s", dates: bool = True) -> _Where:
    """The sessions of `scope` in reporting.rpt_sessions (alias `alias`)."""
    where = _Where()
    if dates:
        where.add(f"{alias}.session_date between ? and ?", scope.start, scope.end)
    _tenant(where, scope, f"{alias}.account_id")
    where.values(f"{alias}.account_id", scope.account)
    where.values(f"{alias}.bot_id", scope.bot)
    where.values(f"{alias}.bot_version", scope.bot_version)
    where.values(f"{alias}.customer_id", scope.customer)
    where.values(f"{alias}.session_id", scope.session)
    if scope.channel:
        marks = ", ".join("?" for _ in scope.channel)
        where.add(
            f"{alias}.session_id in (select session_id from reporting.rpt_session_channels "
            f"where channel in ({marks}))",
            *scope.channel,
        )
    if scope.conversation:
        marks = ", ".join("?" for _ in scope.conversation)
        where.add(
            f"{alias}.session_id in (select session_id from reporting.rpt_session_usage "
            f"where conversation_id in ({marks}))",
            *scope.conversation,
        )
    return where


def _rows(con, sql: str, params: list) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --------------------------------------------------------------------------- what exists


def rules(con) -> dict[str, Any]:
    """The rule vars the published data was built with (meta.publish_info)."""
    import json

    row = con.execute("select rule_vars from meta.publish_info").fetchone()
    return json.loads(row[0])


def data_range(con, tenant: str | None = None) -> tuple[dt.date, dt.date] | None:
    """First and last session date in the published file (of the tenant, if any)."""
    where = _Where()
    if tenant is not None:
        where.add("account_id = ?", tenant)
    first, last = con.execute(
        f"select min(session_date), max(session_date) from reporting.rpt_sessions "
        f"where {where.sql}",
        where.params,
    ).fetchone()
    return (first, last) if last else None


def accounts(con, tenant: str | None = None) -> list[str]:
    where = _Where()
    if tenant is not None:
        where.add("account_id = ?", tenant)
    return [
        r[0]
        for r in con.execute(
            f"select distinct account_id from reporting.rpt_sessions where {where.sql} order by 1",
            where.params,
        ).fetchall()
    ]


def bots(con, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every bot with sessions (of the tenant): id, current name, account."""
    where = _Where()
    if tenant is not None:
        where.add("account_id = ?", tenant)
    return _rows(
        con,
        f"""select account_id, bot_id, arg_max(bot_name, session_start_at) as bot_name
            from reporting.rpt_sessions where {where.sql}
            group by account_id, bot_id order by bot_name, bot_id""",
        where.params,
    )


def distinct_values(con, column: str, scope: Scope, limit: int = 200) -> list[str]:
    """Values of a session column (channel, bot_version) within the tenant, for pickers."""
    if column == "channel":
        table, alias_filter = "reporting.rpt_session_channels", "channel"
    elif column == "bot_version":
        table, alias_filter = "reporting.rpt_sessions", "bot_version"
    else:
        raise QueryError(f"no picker for {column!r}")
    where = _Where()
    _tenant(where, scope)
    return [
        r[0]
        for r in con.execute(
            f"select distinct {alias_filter} from {table} where {where.sql} "
            f"and {alias_filter} is not null order by 1 limit {int(limit)}",
            where.params,
        ).fetchall()
    ]


def resolve_bots(con, values: list[str], tenant: str | None = None) -> tuple[str, ...]:
    """Bot ids for values given as ids or names (case-insensitive); unknown ones raise."""
    known = bots(con, tenant)
    ids: list[str] = []
    for value in values:
        hits = sorted(
            {
                b["bot_id"]
                for b in known
                if b["bot_id"] == value or (b["bot_name"] or "").lower() == value.lower()
            }
        )
        if not hits:
            shown = ", ".join(sorted({b["bot_id"] for b in known})[:12])
            raise QueryError(f"unknown bot {value!r}: not a bot id or name in the data ({shown})")
        ids.extend(h for h in hits if h not in ids)
    return tuple(ids)


def check_values(con, scope: Scope) -> None:
    """Every filter value exists (for the reader): a typo is an error, not an empty report."""
    checks = {
        "account": ("reporting.rpt_sessions", "account_id"),
        "bot_version": ("reporting.rpt_sessions", "bot_version"),
        "channel": ("reporting.rpt_session_channels", "channel"),
        "customer": ("reporting.rpt_sessions", "customer_id"),
        "conversation": ("reporting.rpt_session_usage", "conversation_id"),
        "session": ("reporting.rpt_sessions", "session_id"),
    }
    for name, (table, column) in checks.items():
        values = getattr(scope, name)
        if not values:
            continue
        where = _Where()
        _tenant(where, scope)
        where.values(column, values)
        found = {
            r[0]
            for r in con.execute(
                f"select distinct {column} from {table} where {where.sql}", where.params
            ).fetchall()
        }
        missing = [v for v in values if v not in found]
        if missing:
            raise QueryError(f"unknown {name.replace('_', ' ')} {missing[0]!r}: no session has it")


# ------------------------------------------------------------------------ session widgets


def session_totals(con, scope: Scope) -> dict[str, int]:
    where = session_where(scope)
    sessions, tickets, with_ticket, conversations, bot_count = con.execute(
        f"""select count(*), coalesce(sum(ticket_count), 0),
                   count(*) filter (where has_ticket), coalesce(sum(conversation_count), 0),
                   count(distinct bot_id)
            from reporting.rpt_sessions as s where {where.sql}""",
        where.params,
    ).fetchone()
    return {
        "sessions": int(sessions),
        "tickets": int(tickets),
        "sessions_with_ticket": int(with_ticket),
        "conversations": int(conversations),
        "bots": int(bot_count),
    }


def sessions_by_day(con, scope: Scope) -> dict[dt.date, dict[str, int]]:
    where = session_where(scope)
    return {
        r[0]: {"sessions": int(r[1]), "tickets": int(r[2])}
        for r in con.execute(
            f"""select session_date, count(*), coalesce(sum(ticket_count), 0)
                from reporting.rpt_sessions as s where {where.sql} group by 1""",
            where.params,
        ).fetchall()
    }


def sessions_by_month(con, scope: Scope) -> list[dict[str, Any]]:
    where = session_where(scope)
    return _rows(
        con,
        f"""select session_month as month, count(*) as sessions,
                   coalesce(sum(ticket_count), 0) as tickets
            from reporting.rpt_sessions as s where {where.sql} group by 1 order by 1""",
        where.params,
    )


def sessions_by_bot(con, scope: Scope) -> list[dict[str, Any]]:
    """Sessions per bot, named by the name the bot had at its latest session in range."""
    where = session_where(scope)
    return _rows(
        con,
        f"""select account_id, bot_id, arg_max(bot_name, session_start_at) as bot_name,
                   count(*) as sessions, coalesce(sum(ticket_count), 0) as tickets
            from reporting.rpt_sessions as s where {where.sql}
            group by account_id, bot_id order by sessions desc, bot_id""",
        where.params,
    )


def sessions_by_version(con, scope: Scope) -> list[dict[str, Any]]:
    where = session_where(scope)
    return _rows(
        con,
        f"""select account_id, bot_id, arg_max(bot_name, session_start_at) as bot_name,
                   bot_version, count(*) as sessions, coalesce(sum(ticket_count), 0) as tickets
            from reporting.rpt_sessions as s where {where.sql}
            group by account_id, bot_id, bot_version
            order by bot_name, bot_id, bot_version nulls first""",
        where.params,
    )


def sessions_by_channel(con, scope: Scope) -> list[dict[str, Any]]:
    """A session counts once in every channel it touched (only the filtered channels when
    a channel filter is set)."""
    where = session_where(scope)
    channel = _Where()
    channel.values("c.channel", scope.channel)
    return _rows(
        con,
        f"""select c.channel, count(*) as sessions, coalesce(sum(s.ticket_count), 0) as tickets
            from reporting.rpt_sessions as s
            inner join reporting.rpt_session_channels as c on c.session_id = s.session_id
            where {where.sql} and {channel.sql}
            group by c.channel order by sessions desc, c.channel""",
        where.params + channel.params,
    )


SESSION_SORTS = {
    "session_start_at": "s.session_start_at",
    "session_end_at": "s.session_end_at",
    "customer_id": "s.customer_id",
    "bot_name": "s.bot_name",
    "bot_version": "s.bot_version",
    "channels": "s.channels",
    "ticket_count": "s.ticket_count",
    "conversation_count": "s.conversation_count",
    "session_id": "s.session_id",
}


def sessions_page(
    con,
    scope: Scope,
    sort: str = "session_start_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[dict[str, Any]]]:
    """The sessions in scope (the underlying data of "Sessions consumed"), one page, each
    with its conversations (id, created at, updated at)."""
    if sort not in SESSION_SORTS:
        raise QueryError(f"cannot sort by {sort!r}")
    where = session_where(scope)
    total = con.execute(
        f"select count(*) from reporting.rpt_sessions as s where {where.sql}", where.params
    ).fetchone()[0]
    order = f"{SESSION_SORTS[sort]} {'desc' if descending else 'asc'}, s.session_id"
    rows = _rows(
        con,
        f"""select s.session_id, s.account_id, s.bot_id, s.bot_name, s.bot_version,
                   s.customer_id, s.session_start_at, s.session_end_at, s.channels,
                   s.conversation_count, s.ticket_count
            from reporting.rpt_sessions as s where {where.sql}
            order by {order} limit ? offset ?""",
        [*where.params, int(limit), int(offset)],
    )
    if rows:
        ids = [r["session_id"] for r in rows]
        marks = ", ".join("?" for _ in ids)
        conversations: dict[str, list[dict[str, Any]]] = {}
        for row in _rows(
            con,
            f"""select session_id, conversation_id, conversation_created_at,
                       conversation_updated_at
                from reporting.rpt_session_usage
                where session_id in ({marks}) and conversation_id is not null
                order by session_id, conversation_created_at, conversation_id""",
            ids,
        ):
            conversations.setdefault(row.pop("session_id"), []).append(row)
        for r in rows:
            r["conversations"] = conversations.get(r["session_id"], [])
    return int(total), rows


def session_explain(con, session_id: str, tenant: str | None = None) -> dict[str, Any] | None:
    """Why a session was counted: its user events in order with the gap before each and the
    reason a session started (reporting.rpt_session_explain). None: no such session for
    this reader."""
    where = _Where()
    where.add("s.session_id = ?", session_id)
    if tenant is not None:
        where.add("s.account_id = ?", tenant)
    session = _rows(
        con, f"select * from reporting.rpt_sessions as s where {where.sql}", where.params
    )
    if not session:
        return None
    events = _rows(
        con,
        """select event_id, event_type, channel, conversation_id, occurred_at,
                  previous_user_event_at, gap_seconds, new_session_reason, is_session_start
           from reporting.rpt_session_explain where session_id = ?
           order by occurred_at, event_id""",
        [session_id],
    )
    return {"session": session[0], "events": events}


# ------------------------------------------------------------------------ rollup widgets


def _rollup_where(scope: Scope, widget: str, date_column: str) -> _Where:
    where = _Where()
    where.add(f"{date_column} between ? and ?", scope.start, scope.end)
    _tenant(where, scope)
    applied = ROLLUP_FILTERS[widget]
    columns = {
        "account": "account_id",
        "bot": "bot_id",
        "channel": "channel",
        "bot_version": "bot_version",
    }
    for name in applied:
        where.values(columns[name], getattr(scope, name))
    return where


def engagement(con, scope: Scope) -> dict[str, Any]:
    where = _rollup_where(scope, "engagement", "event_date")
    unique, engaged, started = con.execute(
        f"""select coalesce(sum(unique_impressions), 0), coalesce(sum(engaged_impressions), 0),
                   coalesce(sum(conversations_started), 0)
            from reporting.rpt_engagement_daily where {where.sql}""",
        where.params,
    ).fetchone()
    return {
        "unique_impressions": int(unique),
        "engaged_impressions": int(engaged),
        "engagement_rate": (engaged / unique) if unique else None,
        "conversations_started": int(started),
    }


def intents(con, scope: Scope, limit: int | None = None) -> dict[str, Any]:
    """Intent matches, fallback and low-confidence shares and average confidence, per intent
    (most matched first), and the share of all matches that fell back."""
    where = _rollup_where(scope, "intents", "event_date")
    rows = _rows(
        con,
        f"""select intent, sum(matches) as matches, sum(fallback_matches) as fallback_matches,
                   sum(low_confidence_matches) as low_confidence_matches,
                   cast(sum(confidence_sum) as double) / sum(matches) as avg_confidence
            from reporting.rpt_intents_daily where {where.sql}
            group by intent order by matches desc, intent
            {f"limit {int(limit)}" if limit else ""}""",
        where.params,
    )
    totals = con.execute(
        f"""select coalesce(sum(matches), 0), coalesce(sum(fallback_matches), 0),
                   coalesce(sum(low_confidence_matches), 0)
            from reporting.rpt_intents_daily where {where.sql}""",
        where.params,
    ).fetchone()
    for r in rows:
        r["matches"] = int(r["matches"])
        r["fallback_matches"] = int(r["fallback_matches"])
        r["low_confidence_matches"] = int(r["low_confidence_matches"])
        r["fallback_share"] = r["fallback_matches"] / r["matches"]
        r["low_confidence_share"] = r["low_confidence_matches"] / r["matches"]
    matches = int(totals[0])
    return {
        "intents": rows,
        "matches": matches,
        "fallback_share": (int(totals[1]) / matches) if matches else None,
        "low_confidence_share": (int(totals[2]) / matches) if matches else None,
    }


def api_calls(con, scope: Scope) -> list[dict[str, Any]]:
    """Calls, errors and exact latency percentiles per API over the range."""
    where = _rollup_where(scope, "apis", "event_date")
    rows = _rows(
        con,
        f"""select api_name, count(*) as calls, count(*) filter (where is_error) as error_calls,
                   quantile_cont(latency_ms, 0.5) as latency_p50,
                   quantile_cont(latency_ms, 0.95) as latency_p95,
                   quantile_cont(latency_ms, 0.99) as latency_p99,
                   max(latency_ms) as latency_max
            from reporting.rpt_api_calls where {where.sql}
            group by api_name order by calls desc, api_name""",
        where.params,
    )
    for r in rows:
        r["calls"], r["error_calls"] = int(r["calls"]), int(r["error_calls"])
        r["error_rate"] = r["error_calls"] / r["calls"]
    return rows


def kpis(con, scope: Scope, grain: str | None = None) -> list[dict[str, Any]]:
    """Every KPI of the loaded configuration over the range: sum(numerator) /
    sum(denominator), or the numerator for a KPI without a denominator. `grain` ('day' or
    'month') adds a row per day or month."""
    where = _rollup_where(scope, "kpis", "kpi_date")
    period = {
        None: "",
        "day": "kpi_date as period, ",
        "month": "date_trunc('month', kpi_date) as period, ",
    }[grain]
    group = "kpi_name, kpi_description, has_denominator" + (", period" if grain else "")
    rows = _rows(
        con,
        f"""select kpi_name, kpi_description, has_denominator, {period}
                   sum(numerator) as numerator, sum(denominator) as denominator
            from reporting.rpt_kpis_daily where {where.sql}
            group by {group} order by kpi_name{", period" if grain else ""}""",
        where.params,
    )
    for r in rows:
        r["numerator"], r["denominator"] = int(r["numerator"]), int(r["denominator"])
        if r["has_denominator"]:
            r["value"] = (r["numerator"] / r["denominator"]) if r["denominator"] else None
        else:
            r["value"] = float(r["numerator"])
            r["denominator"] = None
    return rows


def usage_by_day(con, scope: Scope) -> list[dict[str, Any]]:
    """The Usage Metrics app: every count per day (account and bot filters apply)."""
    where = _rollup_where(scope, "apis", "event_date")  # account and bot only
    return _rows(
        con,
        f"""select event_date, sum(sessions) as sessions,
                   sum(conversations_started) as conversations_started,
                   sum(user_messages) as user_messages, sum(bot_messages) as bot_messages,
                   sum(agent_messages) as agent_messages,
                   sum(unique_impressions) as unique_impressions, sum(tickets) as tickets,
                   sum(intents_matched) as intents_matched, sum(api_calls) as api_calls
            from reporting.rpt_usage_daily where {where.sql}
            group by event_date order by event_date""",
        where.params,
    )

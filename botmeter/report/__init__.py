"""The Session Usage report: its widgets' numbers, read from the published warehouse.

Everything is computed from the session-grain marts (fct_sessions and its bridges), so every
filter combines with every widget; the aggregate marts give the same numbers (tested). A
session is counted once in every widget except "by channel", where it counts once in every
channel it touched (so channel volumes can add up to more than the sessions consumed).
Engagement widgets (impressions, engagement rate, containment/escalation, intents, APIs) appear
only when their marts exist in the published file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import duckdb

from botmeter import settings

DEFAULT_DAYS = 30
CHANNEL_NOTE = (
    "A session counts once in every channel it touched, so channel volumes can add up to "
    "more than the sessions consumed."
)
FILTERS = ("account", "bot", "channel", "customer", "conversation")


class ReportError(Exception):
    """A report that cannot be produced as asked (bad filter, empty range, no file)."""


def open_published(path: Path) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if not path.exists():
        raise ReportError(
            f"published warehouse {path} does not exist: run `botmeter run` (or `botmeter demo`) "
            "first, or pass --warehouse"
        )
    con = duckdb.connect(str(path), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    return con


def _tables(con) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' order by table_name, ordinal_position"
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        out.setdefault(table, {})[column] = dtype.upper()
    return out


def _in(column: str, values: list, params: list) -> str:
    params.extend(values)
    return f"{column} in ({', '.join('?' for _ in values)})"


def _resolve_filters(con, filters: dict[str, list[str]]) -> dict[str, list[str]]:
    """Check every filter value exists; bots may be given by id or by name."""
    lookups = {
        "account": ("select distinct account_id from marts.fct_sessions", "account"),
        "channel": ("select distinct channel from marts.bridge_session_channels", "channel"),
        "customer": (
            "select distinct customer_id from marts.fct_sessions where customer_id in ({})",
            "customer",
        ),
        "conversation": (
            "select distinct conversation_id from marts.bridge_session_conversations "
            "where conversation_id in ({})",
            "conversation",
        ),
    }
    resolved: dict[str, list[str]] = {}
    for name in FILTERS:
        values = [v for v in (filters.get(name) or []) if v]
        if not values:
            continue
        if name == "bot":
            rows = con.execute(
                "select distinct bot_id, bot_name from marts.fct_sessions"
            ).fetchall()
            ids: list[str] = []
            for value in values:
                hit = sorted(
                    {b for b, n in rows if b == value or (n and n.lower() == value.lower())}
                )
                if not hit:
                    known = sorted({b for b, _ in rows})
                    raise ReportError(
                        f"unknown --bot {value!r}: not a bot id or name in the data "
                        f"(bot ids: {', '.join(known[:12])}{' …' if len(known) > 12 else ''})"
                    )
                ids.extend(h for h in hit if h not in ids)
            resolved["bot"] = ids
            continue
        sql, label = lookups[name]
        if "{}" in sql:
            found = {
                r[0]
                for r in con.execute(sql.format(", ".join("?" for _ in values)), values).fetchall()
            }
            known = []
        else:
            known = sorted(r[0] for r in con.execute(sql).fetchall() if r[0] is not None)
            found = set(known)
        for value in values:
            if value not in found:
                hint = (
                    f" (known: {', '.join(known[:12])}{' …' if len(known) > 12 else ''})"
                    if known
                    else ""
                )
                raise ReportError(f"unknown --{label} {value!r}: no session has it{hint}")
        resolved[name] = list(dict.fromkeys(values))
    return resolved


def data_range(con) -> tuple[dt.date, dt.date] | None:
    first, last = con.execute(
        "select min(session_date), max(session_date) from marts.fct_sessions"
    ).fetchone()
    return (first, last) if last else None


def build_report(
    published: Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    **filters: list[str] | None,
) -> dict[str, Any]:
    """All widgets as plain data (dates as ISO strings). Raises ReportError with one line."""
    path = Path(published) if published else settings.published_path()
    con = open_published(path)
    try:
        return _build(con, path, start, end, {k: list(v or []) for k, v in filters.items()})
    finally:
        con.close()


def _build(con, path, start, end, filters) -> dict[str, Any]:
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ReportError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    tables = _tables(con)
    if "fct_sessions" not in tables:
        raise ReportError(
            f"{path} has no marts.fct_sessions: is it a botmeter published warehouse?"
        )
    bounds = data_range(con)
    if bounds is None:
        raise ReportError(f"{path} holds no sessions yet")
    end = end or bounds[1]
    # default: the 30 days up to the newest data day (not before the first data day)
    start = start or max(end - dt.timedelta(days=DEFAULT_DAYS - 1), min(bounds[0], end))
    if start > end:
        raise ReportError(f"--from {start} is after --to {end}")
    f = _resolve_filters(con, filters)

    params: list = [start, end]
    where = ["session_date between ? and ?"]
    if "account" in f:
        where.append(_in("account_id", f["account"], params))
    if "bot" in f:
        where.append(_in("bot_id", f["bot"], params))
    if "customer" in f:
        where.append(_in("customer_id", f["customer"], params))
    if "channel" in f:
        sub: list = []
        cond = _in("channel", f["channel"], sub)
        params.extend(sub)
        where.append(
            f"session_id in (select session_id from marts.bridge_session_channels where {cond})"
        )
    if "conversation" in f:
        sub = []
        cond = _in("conversation_id", f["conversation"], sub)
        params.extend(sub)
        where.append(
            "session_id in (select session_id from marts.bridge_session_conversations "
            f"where {cond})"
        )
    con.execute(
        "create or replace temp table s as select * from marts.fct_sessions where "
        + " and ".join(where),
        params,
    )
    sessions, tickets, with_ticket, conversations = con.execute(
        "select count(*), coalesce(sum(ticket_count), 0), count(*) filter (where has_ticket), "
        "coalesce(sum(conversation_count), 0) from s"
    ).fetchone()
    described = _describe_filters(start, end, f)
    if sessions == 0:
        raise ReportError(f"no sessions for {described} (data covers {bounds[0]}..{bounds[1]})")

    days = (end - start).days + 1
    daily_rows = dict(
        (d, (n, t))
        for d, n, t in con.execute(
            "select session_date, count(*), sum(ticket_count) from s group by 1"
        ).fetchall()
    )
    daily = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        n, t = daily_rows.get(day, (0, 0))
        daily.append({"date": day.isoformat(), "sessions": int(n), "tickets": int(t)})

    by_bot = [
        {"bot_id": b, "bot_name": name or b, "sessions": int(n), "tickets": int(t)}
        for b, name, n, t in con.execute(
            "select bot_id, "
            "arg_max(bot_name, session_start_at) filter (where bot_name is not null), "
            "count(*), sum(ticket_count) from s group by bot_id order by 3 desc, bot_id"
        ).fetchall()
    ]
    ch_params: list = []
    ch_where = ""
    if "channel" in f:
        ch_where = "where " + _in("c.channel", f["channel"], ch_params)
    by_channel = [
        {"channel": c, "sessions": int(n), "tickets": int(t)}
        for c, n, t in con.execute(
            "select c.channel, count(distinct s.session_id), sum(s.ticket_count) from s "
            f"join marts.bridge_session_channels c on c.session_id = s.session_id {ch_where} "
            "group by 1 order by 2 desc, 1",
            ch_params,
        ).fetchall()
    ]
    monthly = [
        {"month": m.isoformat()[:7], "sessions": int(n), "tickets": int(t)}
        for m, n, t in con.execute(
            "select session_month, count(*), sum(ticket_count) from s group by 1 order by 1"
        ).fetchall()
    ]
    kpis: dict[str, Any] = {
        "sessions": int(sessions),
        "tickets": int(tickets),
        "sessions_with_ticket": int(with_ticket),
        "conversations": int(conversations),
        "avg_sessions_per_day": round(sessions / days, 1),
        "bots": len(by_bot),
        "channels": len(by_channel),
    }
    notes = [CHANNEL_NOTE]
    engagement = _engagement(con, tables, start, end, f, kpis, notes)
    return {
        "title": "Session Usage",
        "source": str(path),
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "data_range": {"from": bounds[0].isoformat(), "to": bounds[1].isoformat()},
        "filters": {
            "from": start.isoformat(),
            "to": end.isoformat(),
            **{k: f.get(k, []) for k in FILTERS},
        },
        "description": described,
        "kpis": kpis,
        "daily": daily,
        "by_bot": by_bot,
        "by_channel": by_channel,
        "monthly": monthly,
        **engagement,
        "notes": notes,
    }


def _describe_filters(start, end, f) -> str:
    parts = [f"{start}..{end}"]
    parts += [f"{k}={','.join(v)}" for k, v in f.items() if v]
    return " ".join(parts)


# --- engagement widgets: only where the engagement marts exist -------------------------------


def _date_col(cols: dict[str, str]) -> str | None:
    for name in (
        "activity_date",
        "event_date",
        "day",
        "date",
        "impression_date",
        "session_date",
        "metric_date",
        "kpi_date",
    ):
        if name in cols:
            return name
    for name, dtype in cols.items():
        if dtype == "DATE":
            return name
    return None


def _pick(cols: dict[str, str], *candidates: str) -> str | None:
    for c in candidates:
        if c in cols:
            return c
    return None


def _scope(cols, start, end, f, notes, table) -> tuple[str, list] | None:
    date = _date_col(cols)
    if date is None:
        return None
    params: list = [start, end]
    where = [f'"{date}" between ? and ?']
    for flt, col in (("account", "account_id"), ("bot", "bot_id"), ("channel", "channel")):
        if f.get(flt):
            if col not in cols:
                notes.append(f"{table}: has no {col}, so --{flt} does not narrow it")
                continue
            where.append(_in(col, f[flt], params))
    return " and ".join(where), params


def _engagement(con, tables, start, end, f, kpis, notes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if f.get("customer") or f.get("conversation"):
        if any(
            t in tables
            for t in (
                "agg_impressions_daily",
                "agg_kpis_daily",
                "agg_intents_daily",
                "agg_api_calls_daily",
            )
        ):
            notes.append(
                "engagement widgets are daily rollups: "
                "--customer/--conversation do not apply to them"
            )
        return out
    try:
        _impressions(con, tables, start, end, f, kpis, notes)
        _rates(con, tables, start, end, f, kpis, notes)
        intents = _top_intents(con, tables, start, end, f, notes)
        if intents:
            out["top_intents"] = intents
        apis = _apis(con, tables, start, end, f, notes)
        if apis:
            out.update(apis)
    except duckdb.Error as exc:  # a model shaped differently than expected: skip, say so
        notes.append(f"engagement widgets skipped: {str(exc).splitlines()[0]}")
    return out


def _impressions(con, tables, start, end, f, kpis, notes) -> None:
    cols = tables.get("agg_impressions_daily")
    if not cols:
        return
    scope = _scope(cols, start, end, f, notes, "agg_impressions_daily")
    uniq = _pick(cols, "unique_impressions", "unique_impression_count")
    if not scope or not uniq:
        return
    where, params = scope
    imp = _pick(cols, "impressions", "impression_count")
    conv = _pick(cols, "conversations_started", "conversations")
    exprs = [
        f'sum("{uniq}")',
        f'sum("{imp}")' if imp else "null",
        f'sum("{conv}")' if conv else "null",
    ]
    u, i, c = con.execute(
        f"select {', '.join(exprs)} from marts.agg_impressions_daily where {where}", params
    ).fetchone()
    kpis["unique_impressions"] = int(u or 0)
    if i is not None:
        kpis["impressions"] = int(i)
    if c is None and "agg_engagement_daily" in tables:
        ecols = tables["agg_engagement_daily"]
        conv = _pick(ecols, "conversations_started", "conversations")
        escope = _scope(ecols, start, end, f, notes, "agg_engagement_daily")
        if conv and escope:
            c = con.execute(
                f'select sum("{conv}") from marts.agg_engagement_daily where {escope[0]}', escope[1]
            ).fetchone()[0]
    if c is not None and u:
        kpis["engagement_rate"] = round(float(c) / float(u), 4)


def _rates(con, tables, start, end, f, kpis, notes) -> None:
    cols = tables.get("agg_kpis_daily")
    if not cols or not {"kpi_name", "numerator", "denominator"} <= set(cols):
        return
    scope = _scope(cols, start, end, f, notes, "agg_kpis_daily")
    if not scope:
        return
    where, params = scope
    rows = con.execute(
        f"select kpi_name, sum(numerator), sum(denominator) from marts.agg_kpis_daily "
        f"where {where} and kpi_name in ('containment_rate', 'escalation_rate') group by 1",
        params,
    ).fetchall()
    for name, num, den in rows:
        if den:
            kpis[name] = round(float(num) / float(den), 4)
    if rows and "channel" in cols and not f.get("channel"):
        notes.append(
            "containment and escalation rates are summed over agg_kpis_daily's channels "
            "(a session weighs once per channel it touched)"
        )


def _top_intents(con, tables, start, end, f, notes, limit: int = 10) -> list[dict]:
    cols = tables.get("agg_intents_daily")
    if not cols:
        return []
    scope = _scope(cols, start, end, f, notes, "agg_intents_daily")
    intent = _pick(cols, "intent", "intent_name")
    matches = _pick(cols, "matches", "match_count", "intent_matches")
    if not scope or not intent or not matches:
        return []
    where, params = scope
    fb = _pick(cols, "fallback_share", "fallback_rate")
    conf = _pick(cols, "avg_confidence", "confidence_avg")
    extra = ""
    if fb:
        extra += f', sum("{fb}" * "{matches}") / nullif(sum("{matches}"), 0)'
    if conf:
        extra += f', sum("{conf}" * "{matches}") / nullif(sum("{matches}"), 0)'
    rows = con.execute(
        f'select "{intent}", sum("{matches}"){extra} from marts.agg_intents_daily where {where} '
        f"group by 1 order by 2 desc, 1 limit {limit}",
        params,
    ).fetchall()
    result = []
    for row in rows:
        item = {"intent": row[0], "matches": int(row[1])}
        pos = 2
        if fb:
            item["fallback_share"] = None if row[pos] is None else round(float(row[pos]), 4)
            pos += 1
        if conf:
            item["avg_confidence"] = None if row[pos] is None else round(float(row[pos]), 4)
        result.append(item)
    return result


def _apis(con, tables, start, end, f, notes, limit: int = 8) -> dict[str, list[dict]]:
    cols = tables.get("agg_api_calls_daily")
    if not cols:
        return {}
    scope = _scope(cols, start, end, f, notes, "agg_api_calls_daily")
    calls = _pick(cols, "calls", "call_count", "api_calls")
    errors = _pick(cols, "error_calls", "errors", "error_count")
    p95 = _pick(cols, "latency_p95_ms", "p95_latency_ms", "latency_ms_p95", "p95_ms", "latency_p95")
    if not scope or "api_name" not in cols or not calls:
        return {}
    where, params = scope
    err = f'sum("{errors}")' if errors else "null"
    lat = f'sum("{p95}" * "{calls}") / nullif(sum("{calls}"), 0)' if p95 else "null"
    rows = con.execute(
        f'select api_name, sum("{calls}"), {err}, {lat} from marts.agg_api_calls_daily '
        f"where {where} group by 1",
        params,
    ).fetchall()
    items = [
        {
            "api_name": a,
            "calls": int(c or 0),
            "error_calls": None if e is None else int(e),
            "error_rate": None if e is None or not c else round(float(e) / float(c), 4),
            "p95_latency_ms": None if p is None else round(float(p), 1),
        }
        for a, c, e, p in rows
    ]
    out = {}
    if p95:
        out["slowest_apis"] = sorted(
            [i for i in items if i["p95_latency_ms"] is not None],
            key=lambda i: (-i["p95_latency_ms"], i["api_name"]),
        )[:limit]
    if errors:
        out["failing_apis"] = sorted(
            [i for i in items if i["error_calls"]],
            key=lambda i: (-(i["error_rate"] or 0), -i["error_calls"], i["api_name"]),
        )[:limit]
    return out


# --- output formats --------------------------------------------------------------------------


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _table(headers: list[str], rows: list[list], align: str = "") -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    right = [align[i] == "r" if i < len(align) else False for i in range(len(headers))]

    def fmt(row):
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=False)
        ).rstrip()

    lines = [fmt(headers), "  ".join("─" * w for w in widths)]
    lines += [fmt(r) for r in cells]
    return "\n".join("  " + line for line in lines)


KPI_LABELS = {
    "sessions": "Sessions consumed",
    "tickets": "Tickets",
    "sessions_with_ticket": "Sessions with a ticket",
    "conversations": "Conversations (session-linked)",
    "avg_sessions_per_day": "Avg sessions / day",
    "unique_impressions": "Unique impressions",
    "impressions": "Impressions",
    "engagement_rate": "Engagement rate",
    "containment_rate": "Containment rate",
    "escalation_rate": "Escalation rate",
}
RATE_KPIS = {"engagement_rate", "containment_rate", "escalation_rate"}


def kpi_text(name: str, value) -> str:
    if name in RATE_KPIS:
        return _pct(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def to_text(report: dict) -> str:
    k = report["kpis"]
    out = [f"Session Usage — {report['description']}", f"source: {report['source']}", ""]
    out.append(
        _table(
            ["Metric", "Value"],
            [[KPI_LABELS[n], kpi_text(n, k[n])] for n in KPI_LABELS if n in k],
            "lr",
        )
    )
    out += ["", "Session consumption trend (daily)"]
    out.append(
        _table(
            ["Date", "Sessions", "Tickets"],
            [[d["date"], f"{d['sessions']:,}", f"{d['tickets']:,}"] for d in report["daily"]],
            "lrr",
        )
    )
    out += ["", "Sessions by bot"]
    out.append(
        _table(
            ["Bot", "Bot id", "Sessions", "Tickets"],
            [
                [b["bot_name"], b["bot_id"], f"{b['sessions']:,}", f"{b['tickets']:,}"]
                for b in report["by_bot"]
            ],
            "llrr",
        )
    )
    out += ["", "Sessions by channel"]
    out.append(
        _table(
            ["Channel", "Sessions", "Tickets"],
            [
                [c["channel"], f"{c['sessions']:,}", f"{c['tickets']:,}"]
                for c in report["by_channel"]
            ],
            "lrr",
        )
    )
    out += ["", "Monthly session consumption"]
    out.append(
        _table(
            ["Month", "Sessions", "Tickets"],
            [[m["month"], f"{m['sessions']:,}", f"{m['tickets']:,}"] for m in report["monthly"]],
            "lrr",
        )
    )
    if report.get("top_intents"):
        out += ["", "Top intents"]
        out.append(
            _table(
                ["Intent", "Matches", "Fallback share"],
                [
                    [i["intent"], f"{i['matches']:,}", _pct(i.get("fallback_share"))]
                    for i in report["top_intents"]
                ],
                "lrr",
            )
        )
    for key, title in (
        ("slowest_apis", "Slowest APIs (p95)"),
        ("failing_apis", "Most failing APIs"),
    ):
        if report.get(key):
            out += ["", title]
            out.append(
                _table(
                    ["API", "Calls", "Error rate", "p95 ms"],
                    [
                        [
                            a["api_name"],
                            f"{a['calls']:,}",
                            _pct(a["error_rate"]),
                            "–" if a["p95_latency_ms"] is None else f"{a['p95_latency_ms']:,.0f}",
                        ]
                        for a in report[key]
                    ],
                    "lrrr",
                )
            )
    out += [""] + [f"note: {n}" for n in report["notes"]]
    return "\n".join(out) + "\n"


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"


def to_csv(report: dict) -> str:
    """Long format, one number per row: widget, dimension, key, metric, value."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["widget", "dimension", "key", "metric", "value"])
    for name, value in report["kpis"].items():
        w.writerow(["kpis", "", "", name, value])
    for widget, dim in (
        ("daily", "date"),
        ("by_bot", "bot_id"),
        ("by_channel", "channel"),
        ("monthly", "month"),
        ("top_intents", "intent"),
        ("slowest_apis", "api_name"),
        ("failing_apis", "api_name"),
    ):
        for row in report.get(widget, []):
            for metric, value in row.items():
                if metric != dim:
                    w.writerow([widget, dim, row[dim], metric, "" if value is None else value])
    return buf.getvalue()

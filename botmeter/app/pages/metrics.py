"""The rollup pages: Usage, Intent Drilldown, API and KPI metrics over the date range."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from botmeter import settings
from botmeter.app import charts
from botmeter.app.state import app_state, publish_info, reader
from botmeter.app.view import View, read_view
from botmeter.report import queries
from botmeter.report.formats import kpi_value_text
from botmeter.report.queries import Scope

USAGE_COLUMNS = [
    ("sessions", "Sessions"),
    ("conversations_started", "Conversations started"),
    ("user_messages", "User messages"),
    ("bot_messages", "Bot messages"),
    ("agent_messages", "Agent messages"),
    ("unique_impressions", "Unique impressions"),
    ("tickets", "Tickets"),
    ("intents_matched", "Intents matched"),
    ("api_calls", "API calls"),
]
USAGE_CHARTS = [
    ("Sessions, conversations and tickets", ("sessions", "conversations_started", "tickets")),
    ("Messages", ("user_messages", "bot_messages", "agent_messages")),
    ("Impressions, intents and API calls", ("unique_impressions", "intents_matched", "api_calls")),
]


def _page(request: Request, template: str, name: str, title: str, build) -> Response:
    state = app_state(request)
    with state.published.connect() as con:
        view = read_view(request, con, reader(request), state.clock())
        context = {"view": view, **publish_info(con)}
        if view.ok:
            context.update(build(con, view, state))
    return state.renderer.page(
        request, template, status=view.status, page=name, title=title, **context
    )


def _days(view: View) -> list[dt.date]:
    return [view.start + dt.timedelta(days=i) for i in range(view.days)]


def _usage(con, view: View, state) -> dict[str, Any]:
    found = {r["event_date"]: r for r in queries.usage_by_day(con, view.scope)}
    rows = []
    for day in _days(view):
        row = found.get(day, {})
        rows.append(
            {
                "date": day.isoformat(),
                "is_filling": day >= view.today,
                **{key: int(row.get(key) or 0) for key, _ in USAGE_COLUMNS},
            }
        )
    totals = {key: sum(r[key] for r in rows) for key, _ in USAGE_COLUMNS}
    labels = dict(USAGE_COLUMNS)
    x = [r["date"] for r in rows]
    figures = {
        f"usage{i}": charts.lines(x, {labels[k]: [r[k] for r in rows] for k in keys}, height=260)
        for i, (_, keys) in enumerate(USAGE_CHARTS)
    }
    return {
        "rows": rows,
        "totals": totals,
        "columns": USAGE_COLUMNS,
        "chart_titles": [t for t, _ in USAGE_CHARTS],
        "figures": figures,
        "not_applied": view.not_applied("apis", "usage counts"),
    }


def usage(request: Request) -> Response:
    return _page(request, "usage.html", "usage", "Usage", _usage)


def _intents(con, view: View, state) -> dict[str, Any]:
    data = queries.intents(con, view.scope)
    top = data["intents"][:15]
    return {
        "data": data,
        "not_applied": view.not_applied("intents", "intents"),
        "figures": {
            "intents": charts.hbars(
                [r["intent"] for r in top], {"Matches": [r["matches"] for r in top]}
            )
        }
        if top
        else {},
    }


def intents(request: Request) -> Response:
    return _page(request, "intents.html", "intents", "Intent Drilldown", _intents)


def _apis(con, view: View, state) -> dict[str, Any]:
    rows = queries.api_calls(con, view.scope)
    calls = sum(r["calls"] for r in rows)
    errors = sum(r["error_calls"] for r in rows)
    labels = [r["api_name"] for r in rows]
    return {
        "rows": rows,
        "calls": calls,
        "errors": errors,
        "error_rate": errors / calls if calls else None,
        "not_applied": view.not_applied("apis", "API calls"),
        "figures": {
            "latency": charts.hbars(
                labels,
                {
                    "p50": [r["latency_p50"] for r in rows],
                    "p95": [r["latency_p95"] for r in rows],
                    "p99": [r["latency_p99"] for r in rows],
                },
                suffix=" ms",
            ),
            "calls": charts.hbars(
                labels,
                {"Calls": [r["calls"] for r in rows], "Errors": [r["error_calls"] for r in rows]},
            ),
        }
        if rows
        else {},
    }


def apis(request: Request) -> Response:
    return _page(request, "apis.html", "apis", "API Metrics", _apis)


def _kpis(con, view: View, state) -> dict[str, Any]:
    try:
        config = settings.load_kpi_config(state.kpi_config_path())
        config_error = None
    except settings.ConfigError as exc:
        config, config_error = None, str(exc)
    everything = Scope(start=dt.date.min, end=dt.date.max, tenant=view.reader.tenant)
    published = {r["kpi_name"]: r for r in queries.kpis(con, everything)}
    overall = {r["kpi_name"]: r for r in queries.kpis(con, view.scope)}
    by_day: dict[str, dict[dt.date, dict]] = {}
    for r in queries.kpis(con, view.scope, grain="day"):
        by_day.setdefault(r["kpi_name"], {})[r["period"]] = r
    by_month: dict[str, list[dict]] = {}
    for r in queries.kpis(con, view.scope, grain="month"):
        month = r["period"].date() if isinstance(r["period"], dt.datetime) else r["period"]
        last = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(1)
        marks = [
            m
            for m, on in (
                ("still filling", month <= view.today <= last),
                ("partly in range", view.start > month or view.end < last),
            )
            if on
        ]
        by_month.setdefault(r["kpi_name"], []).append(
            {
                **r,
                "month": month.isoformat()[:7],
                "mark": ", ".join(marks),
                "text": kpi_value_text(r),
            }
        )
    configured = list(config.kpis) if config is not None else []
    names = [k.name for k in configured] + [
        n for n in published if n not in {k.name for k in configured}
    ]
    definitions = {k.name: k for k in configured}
    cards = []
    days = _days(view)
    for name in names:
        definition = definitions.get(name)
        row = overall.get(name)
        known = published.get(name)
        has_denominator = known["has_denominator"] if known else definition.denominator is not None
        if known is None:
            status = "new"
        elif config is not None and definition is None:
            status = "removed"
        else:
            status = "published"
        daily = []
        for day in days:
            r = by_day.get(name, {}).get(day)
            if r is None:
                value = None if has_denominator else 0.0
                daily.append(
                    {
                        "date": day.isoformat(),
                        "value": value,
                        "numerator": 0,
                        "denominator": 0 if has_denominator else None,
                        "text": kpi_value_text(
                            {"value": value, "has_denominator": has_denominator}
                        ),
                    }
                )
            else:
                daily.append({"date": day.isoformat(), **r, "text": kpi_value_text(r)})
        cards.append(
            {
                "name": name,
                "description": (definition.description if definition else known["kpi_description"]),
                "grain": definition.grain if definition else None,
                "has_denominator": has_denominator,
                "status": status,
                "row": row,
                "text": kpi_value_text(row) if row else "–",
                "daily": daily,
                "monthly": by_month.get(name, []),
            }
        )
    figures = {
        f"kpi-{card['name']}": charts.lines(
            [d["date"] for d in card["daily"]],
            {card["name"]: [d["value"] for d in card["daily"]]},
            percent=card["has_denominator"],
            height=220,
        )
        for card in cards
        if card["status"] != "new"
    }
    return {
        "cards": cards,
        "config_error": config_error,
        "config_path": state.kpi_config_path(),
        "not_applied": view.not_applied("kpis", "KPIs"),
        "figures": figures,
    }


def kpis(request: Request) -> Response:
    return _page(request, "kpis.html", "kpis", "KPI Metrics", _kpis)

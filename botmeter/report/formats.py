"""The report as text, JSON or CSV (the dashboard is botmeter/report/html.py)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

KPI_LABELS = {
    "sessions": "Sessions consumed",
    "tickets": "Tickets",
    "sessions_with_ticket": "Sessions with a ticket",
    "conversations": "Conversations (in sessions)",
    "avg_sessions_per_day": "Avg sessions / day",
    "bots": "Bots",
    "unique_impressions": "Unique impressions",
    "engagement_rate": "Engagement rate",
    "intent_matches": "Intent matches",
    "fallback_share": "Matches that fell back",
}
RATE_KPIS = {"engagement_rate", "fallback_share"}


def pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def kpi_text(name: str, value) -> str:
    if name in RATE_KPIS:
        return pct(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def kpi_value_text(row: dict[str, Any]) -> str:
    """A configured KPI's value: a share when it has a denominator, else a count."""
    if row["value"] is None:
        return "–"
    return pct(row["value"]) if row["has_denominator"] else f"{row['value']:,.0f}"


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


def _mark(row: dict[str, Any]) -> str:
    marks = []
    if row.get("is_filling"):
        marks.append("still filling")
    if row.get("is_partial"):
        marks.append("partly in range")
    return f" ({', '.join(marks)})" if marks else ""


def to_text(report: dict) -> str:
    k = report["kpis"]
    out = [
        f"Session Usage — {report['scope']} — {report['description']}",
        f"source: {report['source']}",
        "",
        _table(
            ["Metric", "Value"],
            [[KPI_LABELS[n], kpi_text(n, k[n])] for n in KPI_LABELS if n in k],
            "lr",
        ),
        "",
        "Session consumption trend (daily)",
        _table(
            ["Date", "Sessions", "Tickets"],
            [
                [d["date"] + _mark(d), f"{d['sessions']:,}", f"{d['tickets']:,}"]
                for d in report["daily"]
            ],
            "lrr",
        ),
        "",
        "Sessions by bot",
        _table(
            ["Bot", "Bot id", "Sessions", "Tickets"],
            [
                [b["bot_name"], b["bot_id"], f"{b['sessions']:,}", f"{b['tickets']:,}"]
                for b in report["by_bot"]
            ],
            "llrr",
        ),
        "",
        "Sessions by bot version",
        _table(
            ["Bot", "Version", "Sessions", "Tickets"],
            [
                [v["bot_name"], v["bot_version"] or "–", f"{v['sessions']:,}", f"{v['tickets']:,}"]
                for v in report["by_version"]
            ],
            "llrr",
        ),
        "",
        "Sessions by channel",
        _table(
            ["Channel", "Sessions", "Tickets"],
            [
                [c["channel"], f"{c['sessions']:,}", f"{c['tickets']:,}"]
                for c in report["by_channel"]
            ],
            "lrr",
        ),
        "",
        "Monthly session consumption",
        _table(
            ["Month", "Sessions", "Tickets"],
            [
                [m["month"] + _mark(m), f"{m['sessions']:,}", f"{m['tickets']:,}"]
                for m in report["monthly"]
            ],
            "lrr",
        ),
    ]
    if report["intents"]:
        out += [
            "",
            "Top intents",
            _table(
                ["Intent", "Matches", "Low confidence", "Avg confidence"],
                [
                    [
                        i["intent"],
                        f"{i['matches']:,}",
                        pct(i["low_confidence_share"]),
                        f"{i['avg_confidence']:.3f}",
                    ]
                    for i in report["intents"]
                ],
                "lrrr",
            ),
        ]
    if report["apis"]:
        out += [
            "",
            "API calls",
            _table(
                ["API", "Calls", "Error rate", "p95 ms"],
                [
                    [
                        a["api_name"],
                        f"{a['calls']:,}",
                        pct(a["error_rate"]),
                        "–" if a["latency_p95"] is None else f"{a['latency_p95']:,.0f}",
                    ]
                    for a in report["apis"]
                ],
                "lrrr",
            ),
        ]
    if report["kpi_values"]:
        out += [
            "",
            "KPIs (config/kpis.yml)",
            _table(
                ["KPI", "Value", "Numerator", "Denominator"],
                [
                    [
                        r["kpi_name"],
                        kpi_value_text(r),
                        f"{r['numerator']:,}",
                        "–" if r["denominator"] is None else f"{r['denominator']:,}",
                    ]
                    for r in report["kpi_values"]
                ],
                "lrrr",
            ),
        ]
    out += [""] + [f"note: {n}" for n in report["notes"]]
    return "\n".join(out) + "\n"


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"


WIDGETS = (
    ("daily", "date"),
    ("by_bot", "bot_id"),
    ("by_version", "bot_version"),
    ("by_channel", "channel"),
    ("monthly", "month"),
    ("intents", "intent"),
    ("apis", "api_name"),
    ("kpi_values", "kpi_name"),
)


def to_csv(report: dict) -> str:
    """Long format, one number per row: widget, dimension, key, metric, value; the filters a
    widget ignores and the notes are rows too."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["widget", "dimension", "key", "metric", "value"])
    w.writerow(["scope", "", "", "scope", report["scope"]])
    for name, value in report["filters"].items():
        w.writerow(["filters", "", "", name, value if isinstance(value, str) else ",".join(value)])
    for name, value in report["kpis"].items():
        w.writerow(["kpis", "", "", name, "" if value is None else value])
    for widget, dim in WIDGETS:
        for row in report.get(widget, []):
            key = row[dim] if dim != "bot_version" else f"{row['bot_id']}/{row[dim] or ''}"
            for metric, value in row.items():
                if metric != dim and not isinstance(value, (list, dict)):
                    w.writerow([widget, dim, key, metric, "" if value is None else value])
    for widget, filters in report["not_applied"].items():
        w.writerow([widget, "", "", "filters_not_applied", ",".join(filters)])
    for note in report["notes"]:
        w.writerow(["notes", "", "", "note", note])
    return buf.getvalue()

"""The Session Usage dashboard: one self-contained HTML file (inline CSS, SVG and a little JS).

Charts are drawn as SVG in Python, so the page needs no network, no library and works even
with scripts disabled; the inline script only adds hover read-outs.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

from botmeter.report import CHANNEL_NOTE
from botmeter.report.formats import KPI_LABELS, kpi_text, kpi_value_text, pct

PALETTE = [
    "#4f46e5",
    "#0ea5e9",
    "#10b981",
    "#f59e0b",
    "#ef4444",
    "#8b5cf6",
    "#14b8a6",
    "#f97316",
    "#64748b",
    "#ec4899",
]


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _nice_max(value: float) -> float:
    """A top for a 4-gridline axis whose steps are round (whole, for counts) numbers."""
    if value <= 0:
        return 4
    raw = value / 4
    if raw <= 1:
        return 4
    exp = 10 ** math.floor(math.log10(raw))
    for m in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = m * exp
        if step >= raw and float(step).is_integer():
            return step * 4
    return 40 * exp


def _fmt(v: float) -> str:
    if abs(v) >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if abs(v) >= 10_000:
        return f"{v / 1000:.0f}k"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def line_chart(
    points: list[tuple[str, float]],
    series: str,
    color: str = PALETTE[0],
    width: int = 760,
    height: int = 260,
) -> str:
    left, right, top, bottom = 48, 16, 16, 36
    w, h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in points), default=0))
    n = len(points)
    xs = [left + (w * i / (n - 1) if n > 1 else w / 2) for i in range(n)]
    ys = [top + h - h * v / top_value for _, v in points]
    parts = [
        f'<svg class="chart line" data-chart="{_e(series)}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(series)} per day">'
    ]
    for i in range(5):
        gv = top_value * i / 4
        gy = top + h - h * i / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + w}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
            f'<text class="axis" x="{left - 8}" y="{gy + 4:.1f}" text-anchor="end">{_fmt(gv)}</text>'
        )
    step = max(1, math.ceil(n / 8))
    for i in range(0, n, step):
        parts.append(
            f'<text class="axis" x="{xs[i]:.1f}" y="{height - 12}" text-anchor="middle">'
            f"{_e(points[i][0][5:])}</text>"
        )
    if n:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}"
            for i, (x, y) in enumerate(zip(xs, ys, strict=True))
        )
        area = f"{path} L{xs[-1]:.1f},{top + h} L{xs[0]:.1f},{top + h} Z"
        parts.append(f'<path class="area" d="{area}" fill="{color}"/>')
        parts.append(f'<path class="stroke" d="{path}" stroke="{color}"/>')
        for (label, v), x, y in zip(points, xs, ys, strict=True):
            parts.append(
                f'<circle class="pt" cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{color}" '
                f'data-label="{_e(label)}" data-value="{v:g}"><title>{_e(label)}: {_fmt(v)} {_e(series)}</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(items: list[tuple[str, float, str]], series: str, fmt=_fmt, width: int = 460) -> str:
    """Horizontal bars: (label, value, sublabel)."""
    row, label_w, value_w = 30, 200, 70
    height = max(row * len(items), row) + 8
    top_value = max((v for _, v, _ in items), default=0) or 1
    bar_w = width - label_w - value_w - 8
    parts = [
        f'<svg class="chart hbar" data-chart="{_e(series)}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(series)}">'
    ]
    for i, (label, v, sub) in enumerate(items):
        y = 4 + i * row
        length = max(bar_w * v / top_value, 2)
        color = PALETTE[i % len(PALETTE)]
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(
            f'<g class="bar" data-label="{_e(label)}" data-value="{v:g}">'
            f"<title>{_e(label)}{(' (' + _e(sub) + ')') if sub else ''}: {_e(fmt(v))}</title>"
            f'<text class="lbl" x="{label_w - 8}" y="{y + 19}" text-anchor="end">{_e(short)}</text>'
            f'<rect x="{label_w}" y="{y + 5}" width="{bar_w:.1f}" height="18" rx="4" class="track"/>'
            f'<rect x="{label_w}" y="{y + 5}" width="{length:.1f}" height="18" rx="4" fill="{color}"/>'
            f'<text class="val" x="{width - 4}" y="{y + 19}" text-anchor="end">{_e(fmt(v))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def vbar_chart(
    items: list[tuple[str, float]],
    series: str,
    color: str = PALETTE[0],
    width: int = 460,
    height: int = 240,
) -> str:
    left, right, top, bottom = 44, 8, 20, 32
    w, h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in items), default=0))
    n = max(len(items), 1)
    slot = w / n
    bw = min(slot * 0.62, 64)
    parts = [
        f'<svg class="chart vbar" data-chart="{_e(series)}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(series)}">'
    ]
    for i in range(5):
        gy = top + h - h * i / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + w}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
            f'<text class="axis" x="{left - 8}" y="{gy + 4:.1f}" text-anchor="end">{_fmt(top_value * i / 4)}</text>'
        )
    step = max(1, math.ceil(len(items) / 8))
    for i, (label, v) in enumerate(items):
        bh = h * v / top_value
        x = left + slot * i + (slot - bw) / 2
        parts.append(
            f'<g class="bar" data-label="{_e(label)}" data-value="{v:g}"><title>{_e(label)}: {_fmt(v)}</title>'
            f'<rect x="{x:.1f}" y="{top + h - bh:.1f}" width="{bw:.1f}" height="{max(bh, 0):.1f}" rx="3" fill="{color}"/>'
            + (
                f'<text class="val" x="{x + bw / 2:.1f}" y="{top + h - bh - 5:.1f}" text-anchor="middle">{_fmt(v)}</text>'
                if len(items) <= 14
                else ""
            )
            + (
                f'<text class="axis" x="{x + bw / 2:.1f}" y="{height - 10}" text-anchor="middle">{_e(label[5:] if len(label) == 10 else label)}</text>'
                if i % step == 0
                else ""
            )
            + "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


CSS = """
:root{--bg:#f5f6fa;--card:#fff;--ink:#1e2235;--muted:#6b7188;--line:#e6e8f0;--accent:#4f46e5}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:linear-gradient(120deg,#1e1b4b,#4338ca);color:#fff;padding:26px 36px 60px}
header h1{margin:0;font-size:24px;font-weight:650;letter-spacing:.2px}
header .sub{opacity:.8;margin-top:6px}.chips{margin-top:12px;display:flex;gap:8px;flex-wrap:wrap}
.chip{background:rgba(255,255,255,.14);border-radius:999px;padding:3px 11px;font-size:12px}
main{max-width:1220px;margin:-40px auto 40px;padding:0 24px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:14px;margin-bottom:18px}
.kpi{background:var(--card);border-radius:14px;padding:16px 18px;box-shadow:0 1px 3px rgba(20,20,50,.08)}
.kpi .v{font-size:27px;font-weight:700;margin-top:2px;font-variant-numeric:tabular-nums}
.kpi .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.6px}
.kpi.primary{border-top:4px solid var(--accent)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:18px;margin-bottom:18px}
.card{background:var(--card);border-radius:14px;padding:18px 20px;box-shadow:0 1px 3px rgba(20,20,50,.08)}
.card h2{margin:0 0 2px;font-size:15px;font-weight:650}.card .hint{color:var(--muted);font-size:12px;margin-bottom:10px}
.wide{margin-bottom:18px}svg.chart{width:100%;height:auto;display:block;overflow:visible}
.grid{stroke:var(--line);stroke-width:1}.axis{fill:var(--muted);font-size:11px}
.area{opacity:.12}.stroke{fill:none;stroke-width:2.4;stroke-linejoin:round;stroke-linecap:round}
.pt{stroke:#fff;stroke-width:1.5;cursor:pointer}.pt:hover{r:5}
.lbl{fill:var(--ink);font-size:12px}.val{fill:var(--muted);font-size:11.5px;font-variant-numeric:tabular-nums}
.track{fill:#eef0f6}.bar:hover rect:not(.track){opacity:.85}
table{width:100%;border-collapse:collapse;font-size:13px}th,td{padding:6px 8px;text-align:left;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:600;font-size:12px}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:var(--muted);font-size:12px;margin-top:8px}footer{color:var(--muted);font-size:12px;text-align:center;margin:24px 0}
#tip{position:fixed;pointer-events:none;background:#111827;color:#fff;padding:5px 9px;border-radius:6px;
font-size:12px;opacity:0;transition:opacity .1s;white-space:nowrap;z-index:9}
"""

JS = """
(function(){var tip=document.getElementById('tip');
document.querySelectorAll('[data-label][data-value]').forEach(function(el){
el.addEventListener('mousemove',function(e){tip.textContent=el.getAttribute('data-label')+': '+
Number(el.getAttribute('data-value')).toLocaleString();tip.style.left=(e.clientX+12)+'px';
tip.style.top=(e.clientY-28)+'px';tip.style.opacity=1;});
el.addEventListener('mouseleave',function(){tip.style.opacity=0;});});
document.body.setAttribute('data-ready','1');})();
"""


def _card(title: str, hint: str, body: str, cls: str = "card") -> str:
    return f'<section class="{cls}"><h2>{_e(title)}</h2><div class="hint">{_e(hint)}</div>{body}</section>'


def _marked(label: str, row: dict) -> str:
    """A day or month label, with * when it is still filling or partly in the range."""
    return label + ("*" if row.get("is_filling") or row.get("is_partial") else "")


def _table_html(headers: list[str], rows: list[list], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict, build_id: str | None = None) -> str:
    """The dashboard page; `build_id` (the published build) is stamped in a meta tag."""
    k = report["kpis"]
    f = report["filters"]
    chips = [report["scope"], f"{f['from']} → {f['to']}"] + [
        f"{name.replace('_', ' ')}: {', '.join(v)}"
        for name, v in f.items()
        if name not in ("from", "to") and v
    ]
    kpi_html = []
    for name in KPI_LABELS:
        if name in k:
            cls = "kpi primary" if name == "sessions" else "kpi"
            kpi_html.append(
                f'<div class="{cls}" data-kpi="{name}" data-value="{k[name]}">'
                f'<div class="l">{_e(KPI_LABELS[name])}</div>'
                f'<div class="v">{_e(kpi_text(name, k[name]))}</div></div>'
            )

    daily = [(_marked(d["date"], d), d["sessions"]) for d in report["daily"]]
    tickets = [(_marked(d["date"], d), d["tickets"]) for d in report["daily"]]
    bots = [(b["bot_name"], b["sessions"], b["bot_id"]) for b in report["by_bot"]]
    versions = [
        (f"{v['bot_name']} {v['bot_version'] or '(no version)'}", v["sessions"], v["bot_id"])
        for v in report["by_version"]
    ]
    channels = [(c["channel"], c["sessions"], "") for c in report["by_channel"]]
    months = [(_marked(m["month"], m), m["sessions"]) for m in report["monthly"]]

    sections = [
        _card(
            "Session consumption trend",
            "Sessions consumed per day (UTC); * marks a day still filling",
            line_chart(daily, "sessions"),
            "card wide",
        ),
        '<div class="grid2">',
        _card("Sessions by bot", "Each session counted once", hbar_chart(bots, "sessions by bot")),
        _card(
            "Sessions by bot version",
            "The version the bot ran when the session started",
            hbar_chart(versions, "sessions by bot version"),
        ),
        _card(
            "Sessions by channel",
            "A session counts in every channel it touched",
            hbar_chart(channels, "sessions by channel")
            + f'<div class="note">{_e(CHANNEL_NOTE)}</div>',
        ),
        _card(
            "Monthly session consumption",
            "Sessions per month; * marks a month still filling or partly in the range",
            vbar_chart(months, "sessions by month"),
        ),
        _card(
            "Tickets",
            f"{k['tickets']:,} tickets in {k['sessions_with_ticket']:,} sessions",
            vbar_chart(tickets, "tickets by day", color=PALETTE[4]),
        ),
        "</div>",
    ]
    extra = []
    if report["intents"]:
        extra.append(
            _card(
                "Top intents",
                f"{pct(k['fallback_share'])} of all matches fell back",
                _table_html(
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
                    {1, 2, 3},
                ),
            )
        )
    if report["apis"]:
        extra.append(
            _card(
                "API calls",
                "Calls, share failed (status 400 or more, or none) and 95th percentile latency",
                _table_html(
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
                    {1, 2, 3},
                ),
            )
        )
    if report["kpi_values"]:
        extra.append(
            _card(
                "KPIs",
                "As defined in the KPI configuration, over the whole range",
                _table_html(
                    ["KPI", "Value", "What it measures"],
                    [
                        [r["kpi_name"], kpi_value_text(r), r["kpi_description"]]
                        for r in report["kpi_values"]
                    ],
                    {1},
                ),
            )
        )
    if extra:
        sections += ['<div class="grid2">', *extra, "</div>"]

    notes = "".join(f"<div>{_e(n)}</div>" for n in report["notes"] if n != CHANNEL_NOTE)
    data = json.dumps({"kpis": k, "filters": f, "scope": report["scope"]}, default=str).replace(
        "</", "<\\/"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="botmeter-build" content="{_e(build_id or "")}">
<title>{_e(report["title"])} · {_e(report["scope"])} · {_e(f["from"])} – {_e(f["to"])}</title>
<style>{CSS}</style></head>
<body>
<header><h1>{_e(report["title"])} · {_e(report["scope"])}</h1>
<div class="sub">Bot sessions consumed, by day, bot, version, channel and month · data from {_e(report["data_range"]["from"])} to {_e(report["data_range"]["to"])} (UTC)</div>
<div class="chips">{"".join(f'<span class="chip">{_e(c)}</span>' for c in chips)}</div></header>
<main>
<div class="kpis">{"".join(kpi_html)}</div>
{"".join(sections)}
<footer>{notes}<div>Generated {_e(report["generated_at"])} by botmeter. A session is a period of user activity with a bot; it ends after {report["rules"]["session_timeout_minutes"]} minutes without a user message.</div></footer>
</main>
<div id="tip"></div>
<script type="application/json" id="report-data">{data}</script>
<script>{JS}</script>
</body></html>
"""


_BUILD_META = re.compile(r'<meta name="botmeter-build" content="([^"]*)">')


def dashboard_build_id(path: Path) -> str | None:
    """The build a dashboard file was drawn from (None: missing or not stamped)."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    match = _BUILD_META.search(head)
    return html.unescape(match.group(1)) if match and match.group(1) else None

"""Plotly figures as plain data: the page embeds them as JSON and static/app.js draws them
with the locally served plotly.js, so a chart shows exactly the figures of its table."""

from __future__ import annotations

from typing import Any

PALETTE = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#14b8a6", "#64748b"]
FILLING = "#c7d2fe"
INK, MUTED, GRID = "#1e2235", "#6b7188", "#e6e8f0"


def _layout(**extra: Any) -> dict[str, Any]:
    layout = {
        "margin": {"l": 48, "r": 16, "t": 12, "b": 40},
        "height": 280,
        "font": {
            "family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
            "size": 12,
            "color": INK,
        },
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "x unified",
        "showlegend": False,
        "xaxis": {"gridcolor": GRID, "linecolor": GRID, "tickfont": {"color": MUTED}},
        "yaxis": {
            "gridcolor": GRID,
            "zerolinecolor": GRID,
            "tickfont": {"color": MUTED},
            "rangemode": "tozero",
        },
        "bargap": 0.25,
    }
    layout.update(extra)
    return layout


# Up to this many days, one tick a day: plotly's own ticks on a few days fall every 12 hours,
# and "%b %d" then prints each day twice.
DAILY_TICKS_UP_TO = 7
DAY_MS = 86_400_000


def _day_axis(days: int) -> dict[str, Any]:
    axis = {"type": "date", "gridcolor": GRID, "tickformat": "%b %d", "tickfont": {"color": MUTED}}
    if days <= DAILY_TICKS_UP_TO:
        axis["dtick"] = DAY_MS
    return axis


def daily_trend(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Sessions per day as bars (days still filling in a paler colour), tickets as a line."""
    x = [d["date"] for d in days]
    return {
        "data": [
            {
                "type": "bar",
                "name": "Sessions",
                "x": x,
                "y": [d["sessions"] for d in days],
                "marker": {"color": [FILLING if d["is_filling"] else PALETTE[0] for d in days]},
                "customdata": ["still filling" if d["is_filling"] else "" for d in days],
                "hovertemplate": "%{y:,} sessions %{customdata}<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Tickets",
                "x": x,
                "y": [d["tickets"] for d in days],
                "line": {"color": PALETTE[4], "width": 2},
                "marker": {"size": 5},
                "hovertemplate": "%{y:,} tickets<extra></extra>",
            },
        ],
        "layout": _layout(
            showlegend=True,
            legend={"orientation": "h", "y": 1.12, "x": 0},
            margin={"l": 48, "r": 16, "t": 28, "b": 40},
            xaxis=_day_axis(len(x)),
        ),
    }


def monthly(months: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "bar",
                "name": "Sessions",
                "x": [m["month"] for m in months],
                "y": [m["sessions"] for m in months],
                "text": [f"{m['sessions']:,}" for m in months],
                "textposition": "outside",
                "cliponaxis": False,
                "marker": {
                    "color": [FILLING if m["is_filling"] else PALETTE[0] for m in months],
                    "pattern": {
                        "shape": ["/" if m["is_partial"] else "" for m in months],
                        "fgcolor": "#ffffff",
                        "fgopacity": 0.45,
                    },
                },
                "customdata": [m["mark"] for m in months],
                "hovertemplate": "%{x}: %{y:,} sessions %{customdata}<extra></extra>",
            }
        ],
        "layout": _layout(
            hovermode="closest",
            xaxis={"type": "category", "tickfont": {"color": MUTED}},
            margin={"l": 48, "r": 16, "t": 24, "b": 40},
        ),
    }


def lines(
    x: list[str], series: dict[str, list[float]], percent: bool = False, height: int = 280
) -> dict[str, Any]:
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": x,
            "y": values,
            "line": {"color": PALETTE[i % len(PALETTE)], "width": 2},
            "marker": {"size": 4},
            "hovertemplate": f"%{{y:{'.1%' if percent else ','}}} {name}<extra></extra>",
        }
        for i, (name, values) in enumerate(series.items())
    ]
    yaxis = {
        "gridcolor": GRID,
        "zerolinecolor": GRID,
        "tickfont": {"color": MUTED},
        "rangemode": "tozero",
    }
    if percent:
        yaxis["tickformat"] = ".0%"
    return {
        "data": data,
        "layout": _layout(
            height=height,
            showlegend=len(series) > 1,
            legend={"orientation": "h", "x": 0, "y": -0.14, "yanchor": "top"},
            margin={"l": 52, "r": 16, "t": 12, "b": 40},
            xaxis=_day_axis(len(x)),
            yaxis=yaxis,
        ),
    }


def hbars(
    labels: list[str], series: dict[str, list[float]], percent: bool = False, suffix: str = ""
) -> dict[str, Any]:
    """Horizontal bars, largest on top (one or more series side by side)."""
    height = max(180, 14 * len(labels) * (len(series) + 1) + 60)  # rows of bars
    fmt = ".1%" if percent else ",.0f"
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "y": labels,
            "x": values,
            "marker": {"color": PALETTE[i % len(PALETTE)]},
            "hovertemplate": f"%{{y}}: %{{x:{fmt}}}{suffix} {name}<extra></extra>",
        }
        for i, (name, values) in enumerate(series.items())
    ]
    xaxis = {
        "gridcolor": GRID,
        "zerolinecolor": GRID,
        "tickfont": {"color": MUTED},
        "rangemode": "tozero",
    }
    if percent:
        xaxis["tickformat"] = ".0%"
    return {
        "data": data,
        "layout": _layout(
            height=height,
            hovermode="closest",
            barmode="group",
            showlegend=len(series) > 1,
            legend={"orientation": "h", "y": -0.12, "x": 0},
            margin={"l": 150, "r": 24, "t": 8, "b": 30},
            xaxis=xaxis,
            yaxis={"autorange": "reversed", "automargin": True, "tickfont": {"color": INK}},
        ),
    }

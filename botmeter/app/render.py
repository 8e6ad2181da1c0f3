"""Pages from Jinja2 templates (autoescaped: every value from the data is escaped), with the
number formats the report uses."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from botmeter.report.formats import pct

TEMPLATES = Path(__file__).parent / "templates"

NAV = [
    ("sessions", "/sessions", "Session Usage"),
    ("usage", "/usage", "Usage"),
    ("intents", "/intents", "Intents"),
    ("apis", "/apis", "API"),
    ("kpis", "/kpis", "KPIs"),
    ("config", "/config", "Configuration"),
]


def num(value: Any, digits: int = 0) -> str:
    """A count with thousands separators; a non-whole number with `digits` (default 1)."""
    if value is None:
        return "–"
    if digits or (isinstance(value, float) and not value.is_integer()):
        return f"{value:,.{digits or 1}f}"
    return f"{int(value):,}"


def ms(value: Any) -> str:
    return "–" if value is None else f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


def ts(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return text + (f".{value.microsecond // 1000:03d}" if value.microsecond else "")
    return str(value)


def clock(value: Any, day: Any = None) -> str:
    """To the second; only the time of day when it is on `day` (a table of one day's rows)."""
    if not isinstance(value, dt.datetime):
        return ts(value)
    if day is not None and value.date() == (day.date() if isinstance(day, dt.datetime) else day):
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def gap(seconds: Any) -> str:
    """A gap in words: '45.2 s', '12 min 5 s', '3 h 2 min', '2 d 4 h'."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = float(seconds)
    if s < 60:
        return f"{s:.3f} s".replace(".000 s", " s")
    minutes, sec = divmod(int(s), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, pct=pct, ts=ts, clock=clock, gap=gap, ms=ms)
    return env


class Renderer:
    def __init__(self, context: dict[str, Any]):
        self.templates = Jinja2Templates(env=environment())
        self.context = context  # the same for every page (asset URLs, mode)

    def page(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        reader = getattr(request.state, "reader", None)
        response = self.templates.TemplateResponse(
            request,
            template,
            {**self.context, "nav": NAV, "reader": reader, **context},
            status_code=status,
        )
        response.headers["cache-control"] = "no-store"
        return response

"""What every page handler needs, set once by `create_app`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from starlette.requests import Request

from botmeter import settings
from botmeter.app.published import Published
from botmeter.app.render import Renderer
from botmeter.app.security import FormGuard
from botmeter.app.tenancy import Access, Reader


@dataclasses.dataclass
class AppState:
    published: Published
    access: Access
    allow_edit: bool
    kpi_config: Path | None  # None: settings.kpi_config_path() when asked
    clock: Callable[[], dt.date]
    renderer: Renderer
    forms: FormGuard

    def kpi_config_path(self) -> Path:
        return self.kpi_config or settings.kpi_config_path()


def app_state(request: Request) -> AppState:
    return request.app.state.botmeter


def reader(request: Request) -> Reader:
    return request.state.reader


def publish_info(con) -> dict[str, Any]:
    """When the data the page shows was published (the footer)."""
    try:
        row = con.execute("select published_at from meta.publish_info").fetchone()
    except duckdb.Error:  # a file without the stamp still renders
        return {"published_at": None}
    return {"published_at": row[0] if row else None}

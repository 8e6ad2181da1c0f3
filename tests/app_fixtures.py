"""Shared plumbing of the usage app tests: one small published warehouse built by the real
pipeline (once per test process, whichever app test module asks first: each module
imports the fixtures, so pytest sees one fixture per module), SQL straight on
the published file, and a reader for the figures a page shows (its data-* attributes)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from botmeter import settings

START = dt.date(2024, 2, 20)  # two months, so monthly widgets have a partial month
DAYS = 14
SEED = 11
PER_DAY = 300

_BUILT: dict[str, Path] = {}


def build_published(root: Path) -> Path:
    """Generate events for several accounts and run `botmeter run --full-refresh`."""
    from botmeter.pipeline import run_pipeline
    from tools.generator import generate

    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate(landing, start=START, days=DAYS, seed=SEED, events_per_day=PER_DAY)
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", settings.KPI_CONFIG_ENV)}
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    os.environ.pop(settings.KPI_CONFIG_ENV, None)  # the project's config/kpis.yml
    try:
        run_pipeline(landing, warehouse, full_refresh=True, echo=lambda line: None)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return settings.published_path(warehouse=warehouse)


@pytest.fixture(scope="session", name="published")
def published_fixture(tmp_path_factory) -> Path:
    if "path" not in _BUILT:
        _BUILT["path"] = build_published(tmp_path_factory.mktemp("app_warehouse"))
    return _BUILT["path"]


@pytest.fixture(name="kpi_file")
def kpi_file_fixture(tmp_path) -> Path:
    """A copy of the project's KPI configuration that a test may edit."""
    path = tmp_path / "config" / "kpis.yml"
    path.parent.mkdir()
    shutil.copy(settings.DEFAULT_KPI_CONFIG, path)
    return path


def sql(published: Path, query: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(published), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def accounts_by_size(published: Path) -> list[str]:
    """Accounts, the one with the most sessions first."""
    return [
        r[0]
        for r in sql(
            published,
            "select account_id from reporting.rpt_sessions group by 1 order by count(*) desc, 1",
        )
    ]


def data_bounds(published: Path) -> tuple[dt.date, dt.date]:
    return sql(
        published, "select min(session_date), max(session_date) from reporting.rpt_sessions"
    )[0]


class Figures(HTMLParser):
    """The figures of a page: tiles (`data-kpi`/`data-value`), widget tables
    (`data-widget` > `tr[data-key]` > `td[data-col][data-value]`), notes and errors."""

    def __init__(self, html: str):
        super().__init__()
        self.tiles: dict[str, str] = {}
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.row_order: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[dict[str, str]] = []  # every element's attributes
        self._table: str | None = None
        self._row: str | None = None
        self._capture: list | None = None
        self._depth = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self.attrs.append({"_tag": tag, **a})
        if "data-kpi" in a and "data-value" in a:
            self.tiles[a["data-kpi"]] = a["data-value"]
        if tag == "table" and "data-widget" in a:
            self._table = a["data-widget"]
            self.tables[self._table] = {}
            self.row_order[self._table] = []
        if tag == "tr" and self._table and "data-key" in a:
            self._row = a["data-key"]
            self.tables[self._table][self._row] = {}
            self.row_order[self._table].append(self._row)
        if tag == "td" and self._row is not None and "data-col" in a:
            self.tables[self._table][self._row][a["data-col"]] = a.get("data-value", "")
        if "data-note" in a or "data-error" in a or "data-field-error" in a:
            self._capture = self.notes if "data-note" in a else self.errors
            self._capture.append("")
            self._depth = 0
        elif self._capture is not None:
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._table, self._row = None, None
        if tag == "tr":
            self._row = None
        if self._capture is not None:
            if self._depth == 0:
                self._capture = None
            else:
                self._depth -= 1

    def handle_data(self, data):
        if self._capture is not None:
            self._capture[-1] += data

    def column(self, widget: str, col: str, cast=int) -> dict[str, object]:
        return {k: cast(v[col]) for k, v in self.tables[widget].items() if v.get(col, "") != ""}

    def find(self, **attrs: str) -> list[dict[str, str]]:
        return [a for a in self.attrs if all(a.get(k) == v for k, v in attrs.items())]

"""The usage app in a real headless Chromium: every page, the range and filters, the
underlying data, a session's explanation, CSV downloads and a KPI edit, with the figures
equal to the published tables, no console errors and no request leaving localhost.
Screenshots of each page are kept in target/screenshots/."""

from __future__ import annotations

import csv
import datetime as dt
import io
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import uvicorn

from botmeter.app import create_app
from botmeter.settings import PROJECT_ROOT
from tests._browser import CHROMIUM, CHROMIUM_FLAGS, requires_chromium
from tests.app_fixtures import (  # noqa: F401  (fixtures)
    accounts_by_size,
    data_bounds,
    kpi_file_fixture,
    published_fixture,
    sql,
)

SCREENSHOTS = PROJECT_ROOT / "target" / "screenshots"

pytestmark = [requires_chromium]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(published, kpi_file):
    """The app (operator, KPI editing on) served by uvicorn in a thread."""
    port = _free_port()
    app = create_app(published, allow_edit=True, kpi_config=kpi_file)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not uv.started:
        assert time.time() < deadline, "the app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser_page(server):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        context = browser.new_context(
            viewport={"width": 1360, "height": 900}, accept_downloads=True
        )
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        downloads: set[str] = set()
        page.on("download", lambda d: downloads.add(d.url))

        def failed(request):
            # A download ends its navigation with ERR_ABORTED: not a failure.
            download = request.url in downloads or urlparse(request.url).path.endswith(".csv")
            if not (download and request.failure == "net::ERR_ABORTED"):
                problems.append(f"failed: {request.url} {request.failure}")

        page.on("requestfailed", failed)

        def outside(request):
            host = urlparse(request.url).hostname
            if request.url.startswith(("http:", "https:", "ws:")) and host != "127.0.0.1":
                problems.append(f"request outside localhost: {request.url}")

        page.on("request", outside)
        page.problems = problems
        page.base = server
        yield page
        context.close()
        browser.close()


def _open(page, path: str, shot: str | None = None):
    page.goto(page.base + path)
    _settle(page, shot)


def _settle(page, shot: str | None = None):
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    charts = page.locator("[data-figure]").count()
    assert page.locator("[data-figure][data-drawn='1'] svg.main-svg").count() >= charts
    if shot:
        page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)


def _tile(page, key: str) -> str:
    return page.get_attribute(f"[data-kpi='{key}']", "data-value")


def _count(published, start, end, where="true", params=()):
    return sql(
        published,
        f"select count(*) from reporting.rpt_sessions where session_date between ? and ? "
        f"and {where}",
        [start, end, *params],
    )[0][0]


def test_an_operator_uses_every_page(browser_page, published, kpi_file):
    page = browser_page
    first, last = data_bounds(published)

    # Session Usage, default range (the last 30 complete days: here the whole data).
    _open(page, "/sessions", "01_session_usage")
    start, end = page.input_value("input[name=from]"), page.input_value("input[name=to]")
    assert int(_tile(page, "sessions")) == _count(published, start, end) > 0
    assert page.locator(".chart .main-svg").count() >= 2

    # A few days: one tick a day on the trend, each day named once.
    for days in (1, 3):
        _open(page, f"/sessions?from={last - dt.timedelta(days=days - 1)}&to={last}")
        ticks = page.eval_on_selector_all(
            "[data-figure=fig-trend] .xtick text", "ticks => ticks.map(t => t.textContent)"
        )
        assert len(ticks) == len(set(ticks)) == days, ticks

    # Change the range and pick an account and one of its bots.
    account = accounts_by_size(published)[0]
    bot, bot_name = sql(
        published,
        "select bot_id, any_value(bot_name) from reporting.rpt_sessions where account_id = ? "
        "group by 1 order by count(*) desc limit 1",
        [account],
    )[0]
    page.fill("input[name=from]", "2024-02-22")
    page.fill("input[name=to]", "2024-03-02")
    page.select_option("select[name=account]", account)
    page.select_option("select[name=bot]", bot)
    page.click("form[data-filters] button[type=submit]")
    _settle(page, "02_session_usage_filtered")
    assert "from=2024-02-22" in page.url and "customer=" not in page.url  # empty ones dropped
    expected = _count(published, "2024-02-22", "2024-03-02", "bot_id = ?", [bot])
    assert int(_tile(page, "sessions")) == expected
    assert page.locator("[data-widget=daily] tr[data-key]").count() == 10
    assert page.locator("[data-note='not-applied']").count() == 0

    # The underlying data of "Sessions consumed", sorted by customer.
    page.click("[data-kpi=sessions] a.more")
    _settle(page)
    assert page.get_attribute("[data-total]", "data-total") == str(expected)
    page.click("a[data-sort=customer_id]")
    _settle(page)
    page.click("a[data-sort=customer_id]")  # again: ascending
    _settle(page, "03_underlying_data")
    shown = page.eval_on_selector_all(
        "[data-widget=sessions] tbody tr[data-key]", "rows => rows.map(r => r.dataset.key)"
    )
    ordered = [
        r[0]
        for r in sql(
            published,
            "select session_id from reporting.rpt_sessions where session_date between "
            "'2024-02-22' and '2024-03-02' and bot_id = ? order by customer_id, session_id "
            "limit 50",
            [bot],
        )
    ]
    assert shown == ordered
    with page.expect_download() as download:
        page.click("a[data-download=sessions]")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert list(dict.fromkeys(r["session_id"] for r in rows)) == shown

    # Why the first session was counted.
    page.click("[data-widget=sessions] tbody tr[data-key] td.id a")
    _settle(page, "04_explain")
    session = shown[0]
    events = sql(
        published,
        "select event_id from reporting.rpt_session_explain where session_id = ? "
        "order by occurred_at, event_id",
        [session],
    )
    keys = page.eval_on_selector_all(
        "[data-widget=explain] tbody tr[data-key]", "rows => rows.map(r => r.dataset.key)"
    )
    assert keys == [e[0] for e in events]
    with page.expect_download() as download:
        page.click("a[data-download=explain]")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["event_id"] for r in rows] == keys

    # The rollup pages, over the whole data.
    query = f"?from={first}&to={last}"
    _open(page, "/usage" + query, "05_usage")
    assert (
        int(_tile(page, "api_calls"))
        == sql(published, "select count(*) from reporting.rpt_api_calls")[0][0]
    )
    _open(page, "/intents" + query, "06_intents")
    assert (
        int(_tile(page, "matches"))
        == sql(published, "select sum(matches) from reporting.rpt_intents_daily")[0][0]
    )
    _open(page, "/apis" + query, "07_apis")
    assert (
        int(_tile(page, "error_calls"))
        == sql(published, "select count(*) from reporting.rpt_api_calls where is_error")[0][0]
    )
    _open(page, "/kpis" + query, "08_kpis")
    numerator = sql(
        published,
        "select sum(numerator) from reporting.rpt_kpis_daily where kpi_name = 'escalation_rate'",
    )[0][0]
    cell = "[data-widget=kpis] tr[data-key=escalation_rate] td[data-col=numerator]"
    assert int(page.get_attribute(cell, "data-value")) == numerator

    # Edit a KPI: an invalid value is refused next to its line, a valid one saved.
    original = kpi_file.read_text()
    _open(page, "/config", "09_configuration")
    text = page.input_value("textarea[name=yaml]")
    head, tail = text.split("  - name: escalation_rate")
    page.fill(
        "textarea[name=yaml]",
        head + "  - name: escalation_rate" + tail.replace("grain: day", "grain: weekly", 1),
    )
    page.click("button[value=save]")
    _settle(page, "10_configuration_invalid")
    problem = page.locator("[data-problem]")
    assert problem.get_attribute("data-kpi") == "escalation_rate"
    assert problem.get_attribute("data-field") == "grain"
    assert "must be one of day, month" in page.inner_text("[data-field-error]")
    assert kpi_file.read_text() == original
    page.fill(
        "textarea[name=yaml]",
        head + "  - name: escalation_rate" + tail.replace("grain: day", "grain: month", 1),
    )
    page.click("button[value=save]")
    _settle(page, "11_configuration_saved")
    assert page.locator("[data-saved]").count() == 1
    assert page.locator("li[data-change=relabelled][data-kpi=escalation_rate]").count() == 1
    assert "grain: month" in kpi_file.read_text().split("  - name: escalation_rate")[1]
    assert [p.name for p in kpi_file.parent.glob("kpis.yml.*.bak")]

    assert page.problems == []

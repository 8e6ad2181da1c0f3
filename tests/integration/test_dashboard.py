"""The dashboard renders in headless Chromium: charts drawn, no console errors, marts' numbers."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import duckdb
import pytest

from botmeter.report import build_report
from tests._browser import CHROMIUM, CHROMIUM_FLAGS, requires_chromium
from tests._serving import shared_small_warehouse

FLAGS = ["--headless", *CHROMIUM_FLAGS]

pytestmark = [requires_chromium]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The dashboard the pipeline itself wrote beside the published file."""
    from botmeter import settings

    _, _, published = shared_small_warehouse(tmp_path_factory)
    report = build_report(published)
    html_file = settings.dashboard_path(published)
    return published, report, html_file, html_file


async def _inspect(ws_url: str, url: str) -> dict:
    import websockets

    async with websockets.connect(ws_url, max_size=None) as ws:
        ids = iter(range(1, 10_000))
        errors: list[str] = []

        async def call(method, **params):
            mid = next(ids)
            await ws.send(json.dumps({"id": mid, "method": method, "params": params}))
            while True:
                msg = json.loads(await ws.recv())
                if (
                    msg.get("method") == "Runtime.consoleAPICalled"
                    and msg["params"]["type"] == "error"
                ):
                    errors.append(str(msg["params"]["args"]))
                if msg.get("method") == "Runtime.exceptionThrown":
                    errors.append(msg["params"]["exceptionDetails"].get("text", "exception"))
                if (
                    msg.get("method") == "Log.entryAdded"
                    and msg["params"]["entry"]["level"] == "error"
                ):
                    errors.append(msg["params"]["entry"]["text"])
                if msg.get("id") == mid:
                    return msg.get("result", {})

        await call("Runtime.enable")
        await call("Log.enable")
        await call("Page.enable")
        await call("Page.navigate", url=url)
        for _ in range(50):
            r = await call(
                "Runtime.evaluate",
                expression="document.body && document.body.dataset.ready",
                returnByValue=True,
            )
            if r.get("result", {}).get("value") == "1":
                break
            await asyncio.sleep(0.1)
        js = """JSON.stringify({
          svgs: document.querySelectorAll('svg.chart').length,
          points: document.querySelectorAll('svg.chart circle.pt').length,
          bars: document.querySelectorAll('svg.chart g.bar').length,
          kpis: Object.fromEntries(
            [...document.querySelectorAll('[data-kpi]')]
              .map(e => [e.dataset.kpi, e.querySelector('.v').textContent])),
          channels: Object.fromEntries(
            [...document.querySelectorAll('svg[data-chart="sessions by channel"] g.bar')]
              .map(e => [e.dataset.label, Number(e.dataset.value)])),
          width: document.querySelector('svg.chart').getBoundingClientRect().width})"""
        r = await call("Runtime.evaluate", expression=js, returnByValue=True)
        await asyncio.sleep(0.2)
        return {**json.loads(r["result"]["value"]), "errors": errors}


def test_dashboard_renders_with_charts_and_mart_numbers(page, tmp_path):
    published, report, html_file, _ = page
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1280,1600",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        for _ in range(150):
            if port_file.exists() and port_file.read_text().strip():
                break
            asyncio.run(asyncio.sleep(0.1))
        port = port_file.read_text().split()[0]
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json").read())
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        seen = asyncio.run(_inspect(ws_url, html_file.as_uri()))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(profile, ignore_errors=True)

    assert seen["errors"] == []
    assert seen["svgs"] >= 5 and seen["width"] > 300
    assert seen["points"] == len(report["daily"]) and seen["bars"] > 0
    start, end = report["filters"]["from"], report["filters"]["to"]
    con = duckdb.connect(str(published), read_only=True)
    total = con.execute(
        "select sum(sessions) from marts.agg_sessions_daily_total "
        "where session_date between ? and ?",
        [start, end],
    ).fetchone()[0]
    channels = dict(
        con.execute(
            "select channel, sum(sessions) from marts.agg_sessions_daily "
            "where session_date between ? and ? group by 1",
            [start, end],
        ).fetchall()
    )
    con.close()
    assert seen["kpis"]["sessions"].replace(",", "") == str(total)
    assert seen["channels"] == channels
    # the reader sees the scope, bot names, no internal table names (issue 17, item 15)
    text = html_file.read_text()
    assert "Session Usage · all accounts" in text
    names = [b["bot_name"] for b in report["by_bot"]]
    assert names and all(name in text for name in names)
    assert not any(t in text for t in ("marts.", "reporting.", "rpt_", "fct_", "agg_"))

    shots = Path(__file__).resolve().parents[2] / "target" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "dashboard.png"  # a screenshot, kept for looking at by hand
    subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'p2'}",
            "--window-size=1280,1600",
            f"--screenshot={shot}",
            html_file.as_uri(),
        ],
        capture_output=True,
        timeout=90,
    )
    assert shot.exists() and shot.stat().st_size > 10_000

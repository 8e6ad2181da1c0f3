"""The Dagster UI started exactly as the README says shows botmeter's assets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _default_signals() -> None:
    """The UI stops on SIGTERM as in a terminal, also when the test runner was started as a
    background job: it inherits SIGINT ignored, and Dagster maps SIGTERM to SIGINT's handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _wait_group_gone(group: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    os.killpg(group, signal.SIGKILL)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_botmeter_ui_started_as_documented_shows_the_assets(tmp_path):
    """`.venv/bin/botmeter ui` with a PATH that lacks .venv/bin (no activated virtual
    environment): the code location loads and GraphQL lists the asset nodes (issue 17,
    item 1). The UI serves the warehouse it was started for, with its own Dagster instance."""
    port = _free_port()
    botmeter = Path(sys.executable).with_name("botmeter")
    warehouse = tmp_path / "wh.duckdb"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [str(botmeter), "ui", "--warehouse", str(warehouse), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    query = {"query": "{ assetNodes { assetKey { path } } }"}
    nodes: list = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not nodes:
            time.sleep(2)
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=json.dumps(query).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    nodes = json.loads(response.read())["data"]["assetNodes"]
            except (OSError, KeyError, TypeError, ValueError):
                continue
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        stopped = _wait_group_gone(process.pid)  # the webserver and daemon stop too
    assert stopped, "the Dagster webserver or daemon outlived `botmeter ui` by a minute"
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert {"raw/events", "marts/fct_sessions", "serving/published_warehouse"} <= keys
    assert (tmp_path / ".dagster-wh" / "dagster.yaml").exists()  # the warehouse's instance

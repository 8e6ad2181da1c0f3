"""The usage app under load: `botmeter serve` on a published warehouse, measured from outside.

``python -m benchmarks.app_load --warehouse W`` starts the app as a user does, waits for it,
then times (1) the first render of every page (one request each, the app just started) and
(2) filter changes by concurrent simulated users: each user requests pages with a random date
range, bot and channel, one after the other. Prints one JSON object (benchmarks/run.py reads
it from the last line of stdout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

PAGES = ("/sessions", "/sessions/data", "/usage", "/intents", "/apis", "/kpis", "/config")
FILTERED_PAGES = ("/sessions", "/sessions/data", "/usage", "/intents", "/apis", "/kpis")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> float:
    """Seconds until the whole page is received; a non-200 answer stops the benchmark."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        if response.status != 200:
            raise SystemExit(f"{url}: HTTP {response.status}")
    return time.perf_counter() - started


def wait_ready(base: str, process: subprocess.Popen, timeout: float = 120.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"botmeter serve exited with {process.returncode}")
        try:
            get(base + "/healthz")
            return time.perf_counter() - started
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"botmeter serve was not ready within {timeout:.0f} s")


def filter_space(published: Path) -> dict:
    with duckdb.connect(str(published), read_only=True) as con:
        first, last = con.execute(
            "select min(session_date), max(session_date) from marts.fct_sessions"
        ).fetchone()
        bots = con.execute("select distinct bot_name from marts.dim_bots").fetchall()
        channels = con.execute(
            "select distinct channel from marts.bridge_session_channels"
        ).fetchall()
    bots, channels = [r[0] for r in bots], [r[0] for r in channels]
    return {"first": first, "last": last, "bots": sorted(bots), "channels": sorted(channels)}


def random_query(space: dict, rng: random.Random) -> str:
    days = (space["last"] - space["first"]).days
    start = space["first"] + dt.timedelta(days=rng.randint(0, max(days - 1, 0)))
    end = min(space["last"], start + dt.timedelta(days=rng.choice((1, 7, 14, 30))))
    params: list[tuple[str, str]] = [("from", start.isoformat()), ("to", end.isoformat())]
    if space["bots"] and rng.random() < 0.5:
        params.append(("bot", rng.choice(space["bots"])))
    if space["channels"] and rng.random() < 0.5:
        params.append(("channel", rng.choice(space["channels"])))
    return urllib.parse.urlencode(params)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(warehouse: Path, users: int, requests_per_user: int, seed: int) -> dict:
    published = warehouse.with_name(f"{warehouse.stem}_published.duckdb")
    space = filter_space(published)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    botmeter = str(Path(sys.executable).with_name("botmeter"))
    argv = [botmeter, "serve", "--warehouse", str(warehouse), "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready_s = wait_ready(base, process)
        first_render = {page: round(get(base + page), 3) for page in PAGES}

        def user(number: int) -> list[float]:
            rng = random.Random(seed * 1000 + number)
            return [
                get(f"{base}{rng.choice(FILTERED_PAGES)}?{random_query(space, rng)}")
                for _ in range(requests_per_user)
            ]

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=users) as pool:
            timings = [t for batch in pool.map(user, range(users)) for t in batch]
        elapsed = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "ready_s": round(ready_s, 2),
        "first_render_s": first_render,
        "first_render_max_s": max(first_render.values()),
        "users": users,
        "requests": len(timings),
        "filter_change_p50_s": round(statistics.median(timings), 3),
        "filter_change_p95_s": round(percentile(timings, 0.95), 3),
        "filter_change_max_s": round(max(timings), 3),
        "requests_per_s": round(len(timings) / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--warehouse", type=Path, required=True, help="the working warehouse file")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--requests", type=int, default=20, help="filter changes per user")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.warehouse, args.users, args.requests, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Smoke run of the benchmark command at a tiny size, so the suite cannot rot.

No timing assertions: benchmarks are not tests. This checks that the documented command runs
every section end to end, that the three core jobs agree on the session count, and that the
results file holds every section and a verdict for every target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_command_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    # startup is one more `botmeter run` of the same code path, spark is proven by
    # test_spark_engine.py: both left out here
    argv = [sys.executable, "-m", "benchmarks.run", "--sizes", "3k", "--days", "2", "--quick"]
    argv += ["--skip", "startup,spark"]
    argv += ["--workdir", str(tmp_path / "work"), "--out", str(out)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    from benchmarks.run import SECTIONS

    for section in SECTIONS:
        assert f"## {section}" in text, f"missing section {section!r}"
    data = json.loads(out.with_suffix(".json").read_text())
    e2e = data["sizes"]["3k"]["end_to_end"]
    assert e2e["sessions_equal"]
    assert e2e["botmeter"]["sessions"] == e2e["duckdb"]["sessions"] == e2e["pandas"]["sessions"] > 0
    assert set(data["sizes"]["3k"]["daily"]) == {"new_day", "empty_day", "nothing_new"}
    assert "| 3k: one new day < 15 s |" in text and "| 3k: empty day < 8 s |" in text
    app = data["sizes"]["3k"]["app"]
    assert set(app["first_render_s"]) >= {"/sessions", "/usage", "/intents", "/apis", "/kpis"}
    assert app["requests"] == app["users"] * 20 and app["users"] == 10
    assert "| 3k: app filter change p95 < 300 ms (10 users) |" in text
    assert data["impressions"]["heavy_rows"] == 10_000
    assert "startup" not in data
    assert "spark" not in data["sizes"]["3k"]

"""Smoke run of the benchmark command at a tiny size, so the suite cannot rot.

No timing assertions: benchmarks are not tests. This only checks that the documented command
runs end to end (`--quick`: no Dagster runs) and writes a results file with every section.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_command_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--sizes",
            "2k",
            "--days",
            "2",
            "--quick",
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    from benchmarks.run import SECTIONS

    for section in SECTIONS:
        assert f"## {section}" in text, f"missing section {section!r}"
    assert "| target | figures | verdict |" in text
    data = json.loads(out.with_suffix(".json").read_text())
    size = data["sizes"]["2k"]
    assert size["landing"]["lines"] > 0
    sess = size["sessionization"]
    assert sess["counts_equal"], sess["counts"]
    assert sess["bare"]["sessions"] == sess["pandas"]["sessions"] > 0
    assert data["impressions"]["heavy_rows"] == 10_000


def test_increment_verdict_uses_the_median_runs() -> None:
    """The increment is run several times; the verdict compares the median runs, so one
    noisy run on either history cannot decide it."""
    from benchmarks.run import targets

    def history(runs: list[float]) -> dict:
        median = sorted(runs)[(len(runs) - 1) // 2]
        return {"increment": {"data_work_s": median}, "data_work_runs_s": runs}

    def verdict_row(r: dict) -> str:
        return next(row for row in targets(r) if row.startswith("| increment data work"))

    r = {
        "sizes": {},
        "increment": {"30d": history([5.0, 5.2, 5.4]), "360d": history([6.2, 9.9, 6.0])},
    }
    row = verdict_row(r)
    assert "6.20s vs 5.20s (+19%; median runs of 3)" in row and row.endswith("**met** |")
    r["increment"]["360d"] = history([6.6, 9.9, 7.0])
    assert verdict_row(r).endswith("**NOT met** |")


def test_a_merge_run_keeps_the_sections_it_skips() -> None:
    """Re-measuring a size with --merge --skip landing,no-new-data keeps that size's earlier
    landing and no-new-data figures instead of dropping them from the results."""
    from benchmarks.run import kept_sections

    previous = {"landing": {"wall_s": 51}, "no_new_data": {"wall_s": 55}, "full_build": {}}
    assert kept_sections(previous, {"landing", "no-new-data"}) == {
        "landing": {"wall_s": 51},
        "no_new_data": {"wall_s": 55},
    }
    assert kept_sections(previous, {"startup"}) == {}
    assert kept_sections(None, {"landing"}) == {}


def test_forget_build_makes_the_next_increment_build(tmp_path: Path, capsys) -> None:
    """The increment's repeats re-land the same day, which a run skips once it was built;
    `forget-build` between repeats is what makes each repeat measure a build."""
    import duckdb

    from benchmarks.tasks import main
    from orchestration import build_state

    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        build_state.record_build(con, "sig", None, "run", {})
    assert main(["forget-build", "--warehouse", str(warehouse)]) == 0
    assert json.loads(capsys.readouterr().out) == {"forgotten": str(warehouse)}
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute(f"select count(*) from {build_state.BUILDS_TABLE}").fetchone() == (0,)
        published, dashboard = tmp_path / "p.duckdb", tmp_path / "d.html"
        assert "no complete" in build_state.why_build(con, "sig", published, dashboard)

"""Child-process entry points of the benchmark (each measured as a whole process).

``python -m benchmarks.tasks generate|land|split|report-proxy ...`` prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path


def generate(out: str, start: str, days: int, events_per_day: int, seed: int) -> dict:
    from tools.generator import generate as gen

    t = time.perf_counter()
    s = gen(
        Path(out),
        start=dt.date.fromisoformat(start),
        days=days,
        seed=seed,
        events_per_day=events_per_day,
    )
    return {
        "events": s.events,
        "lines": s.lines,
        "late": s.late,
        "duplicates": s.duplicates,
        "malformed": s.malformed,
        "files": len(s.files),
        "seconds": time.perf_counter() - t,
    }


def land(landing: str, warehouse: str) -> dict:
    """Land every arrival folder as the raw landing asset does (read-ahead thread and
    land_partition), without Dagster around it."""
    import duckdb

    from assets.landing import land_partition, list_arrival_dates, read_ahead

    t0 = time.perf_counter()
    dates, _ = list_arrival_dates(Path(landing))
    con = duckdb.connect(warehouse)
    t1 = time.perf_counter()
    lines = accepted = 0
    for batch in read_ahead(Path(landing), dates):
        r = land_partition(con, Path(landing), batch.arrival_date, batch=batch)
        lines += r.lines_read
        accepted += r.accepted
    con.close()
    t2 = time.perf_counter()
    return {
        "partitions": len(dates),
        "lines": lines,
        "accepted": accepted,
        "land_s": t2 - t1,
        "import_connect_s": t1 - t0,
    }


def split(dagster_home: str, target_root: str) -> dict:
    """Step durations of the latest Dagster run and its dbt run_results.json, so a run's wall
    time splits into landing, dbt models, dbt checks and fixed overhead."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(Path(dagster_home).resolve())
    instance = dg.DagsterInstance.get()
    run = instance.get_runs(limit=1)[0]
    stats_by_step = instance.get_run_step_stats(run.run_id)
    # A skipped step (nothing new to build: orchestration/build_state.py) has no start time.
    steps = {
        s.step_key: s.end_time - s.start_time
        for s in stats_by_step
        if s.start_time is not None and s.end_time is not None
    }
    stats = instance.get_run_stats(run.run_id)
    out: dict = {
        "run_id": run.run_id,
        "status": str(run.status),
        "steps": steps,
        "skipped_steps": sorted(s.step_key for s in stats_by_step if s.start_time is None),
        "run_s": (stats.end_time or 0) - (stats.start_time or 0),
    }
    candidates = sorted(Path(target_root).glob(f"*{run.run_id[:7]}*/run_results.json"))
    if candidates:
        rr = json.loads(candidates[-1].read_text())
        models = {
            r["unique_id"].split(".")[-1]: r["execution_time"]
            for r in rr["results"]
            if r["unique_id"].startswith("model.")
        }
        tests = [
            r["execution_time"]
            for r in rr["results"]
            if r["unique_id"].startswith(("test.", "unit_test."))
        ]
        out.update(
            {
                "dbt_elapsed_s": rr.get("elapsed_time", 0.0),
                "dbt_models_sum_s": sum(models.values()),
                "dbt_tests_sum_s": sum(tests),
                "dbt_tests": len(tests),
                "dbt_models": models,
                "dbt_failures": [
                    r["unique_id"] for r in rr["results"] if r["status"] not in ("success", "pass")
                ],
            }
        )
    instance.dispose()
    return out


def report_proxy(warehouse: str) -> dict:
    import duckdb

    t = time.perf_counter()
    con = duckdb.connect(warehouse, read_only=True)
    tables = {
        r[0]
        for r in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
    }
    # marts.rpt_session_usage when built (not in the --quick smoke build).
    table = next(t for t in ("marts.rpt_session_usage", "marts.fct_sessions") if t in tables)
    rows = con.execute(f"select * from {table}").fetchall()
    con.close()
    return {"rows": len(rows), "table": table, "query_s": time.perf_counter() - t}


def forget_build(warehouse: str) -> dict:
    """Make the next run build its models even if its day is re-landed unchanged (a run
    that brings no new raw rows skips them: orchestration/build_state.py)."""
    import duckdb
    from orchestration.build_state import forget_last_build

    con = duckdb.connect(warehouse)
    try:
        forget_last_build(con)
    finally:
        con.close()
    return {"forgotten": warehouse}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--out", required=True)
    g.add_argument("--start", required=True)
    g.add_argument("--days", type=int, required=True)
    g.add_argument("--events-per-day", type=int, required=True)
    g.add_argument("--seed", type=int, default=42)
    la = sub.add_parser("land")
    la.add_argument("--landing", required=True)
    la.add_argument("--warehouse", required=True)
    s = sub.add_parser("split")
    s.add_argument("--dagster-home", required=True)
    s.add_argument("--target-root", required=True)
    r = sub.add_parser("report-proxy")
    r.add_argument("--warehouse", required=True)
    f = sub.add_parser("forget-build")
    f.add_argument("--warehouse", required=True)
    a = p.parse_args(argv)
    if a.cmd == "generate":
        out = generate(a.out, a.start, a.days, a.events_per_day, a.seed)
    elif a.cmd == "land":
        out = land(a.landing, a.warehouse)
    elif a.cmd == "split":
        out = split(a.dagster_home, a.target_root)
    elif a.cmd == "forget-build":
        out = forget_build(a.warehouse)
    else:
        out = report_proxy(a.warehouse)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Unique impressions on two adversarial shapes: one visitor with 10,000 page loads and
1M visitors with a few (1-5) loads each.

The project's unique-impression model (``fct_impressions``) is written by another engineer;
when the benchmark runs it is measured if it exists in the built warehouse (row count and dbt
execution time come from the full build). These shapes are measured here with reference
DuckDB queries of the rule "an impression is unique per visitor within
``unique_impression_hours`` (24 h)", in its two usual readings:

* ``gap``: a load is unique when the visitor had no load in the previous 24 h (LAG: one
  sort per visitor, linear).
* ``anchored``: a load is unique when it comes 24 h or more after the visitor's last
  *unique* impression (windows anchored on counted loads). Inherently sequential per visitor;
  computed with a recursive CTE whose depth is the number of unique impressions of the
  busiest visitor (not its number of loads), each step a range join on the frontier.

``python -m benchmarks.impressions --visitors 1000000 --heavy-loads 10000`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

HOURS = 24

GAP_SQL = f"""
select count(*) filter (where prev is null or loaded_at >= prev + interval {HOURS} hour)
from (select loaded_at, lag(loaded_at) over (partition by visitor_id order by loaded_at) as prev
      from {{table}})
"""

ANCHORED_SQL = f"""
with recursive chain(visitor_id, anchor) as (
    select visitor_id, min(loaded_at) from {{table}} group by visitor_id
    union all
    select l.visitor_id, min(l.loaded_at)
    from chain c
    join {{table}} l
      on l.visitor_id = c.visitor_id and l.loaded_at >= c.anchor + interval {HOURS} hour
    group by l.visitor_id
)
select count(*) from chain
"""


def make_tables(con, visitors: int, heavy_loads: int, seed: int = 7) -> dict:
    con.execute(f"select setseed({(seed % 100) / 100})")
    # One visitor, heavy_loads page loads spread over 30 days.
    con.execute(f"""
        create or replace temp table heavy as
        select 1::bigint as visitor_id,
               timestamp '2024-01-01' + to_microseconds((random() * 30 * 86400e6)::bigint)
                   as loaded_at
        from range({heavy_loads})
    """)
    # visitors visitors with 1-5 loads each over 72 h.
    con.execute(f"""
        create or replace temp table many as
        select v.range::bigint as visitor_id,
               timestamp '2024-01-01' + to_microseconds((random() * 3 * 86400e6)::bigint)
                   as loaded_at
        from range({visitors}) v, range(5) k
        where k.range < 1 + (hash(v.range) % 5)
    """)
    return {
        "heavy_rows": con.execute("select count(*) from heavy").fetchone()[0],
        "many_rows": con.execute("select count(*) from many").fetchone()[0],
    }


def timed(con, sql: str) -> tuple[float, int]:
    t = time.perf_counter()
    n = con.execute(sql).fetchone()[0]
    return time.perf_counter() - t, int(n)


def run(visitors: int, heavy_loads: int, threads: int | None = None) -> dict:
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"set threads = {threads}")
    t0 = time.perf_counter()
    out = make_tables(con, visitors, heavy_loads)
    out["setup_s"] = time.perf_counter() - t0
    for table in ("heavy", "many"):
        for name, sql in (("gap", GAP_SQL), ("anchored", ANCHORED_SQL)):
            secs, n = timed(con, sql.format(table=table))
            out[f"{table}_{name}_s"] = secs
            out[f"{table}_{name}_unique"] = n
    con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--visitors", type=int, default=1_000_000)
    p.add_argument("--heavy-loads", type=int, default=10_000)
    a = p.parse_args(argv)
    print(json.dumps(run(a.visitors, a.heavy_loads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

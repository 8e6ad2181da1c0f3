"""Three sessionizations of the same staged events (``staging.stg_botmeter__events``).

1. ``models``: the project's session models, run by dbt with ``--full-refresh`` on a prepared
   warehouse (``int_session_keys_changed`` + ``int_sessions``, and the whole chain up to
   ``fct_sessions``); timings come from dbt's ``run_results.json`` (execution time per model,
   dbt start-up excluded, reported separately as the process wall).
2. ``bare``: one DuckDB statement, LAG + running SUM over the same window, materializing one
   row per session (start, end, user event count): the practical lower bound.
3. ``pandas``: what users write by hand: read the user events into a DataFrame, sort, groupby
   + diff, cumsum, then groupby-aggregate one row per session.

Same rules as the models: a key is (account_id, bot_id, customer_id); only rows with
``is_user_activity``; a user event starts a session when it is the key's first or comes
``session_timeout_minutes`` (10) or more after the previous user event of the key; ties are
ordered by event_id.

Run one implementation per process (for its own peak memory):
``python -m benchmarks.sessionization bare|pandas --warehouse W`` prints a JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

TIMEOUT_MINUTES = 10
KEY = ["account_id", "bot_id", "customer_id"]

BARE_SQL = f"""
create or replace table bench.sessions_bare as
select account_id, bot_id, customer_id, session_number,
       min(occurred_at) as session_start_at, max(occurred_at) as session_end_at,
       count(*) as user_event_count
from (
    select *, sum(case when prev is null
                            or occurred_at >= prev + interval {TIMEOUT_MINUTES} minute
                       then 1 else 0 end) over (
                  partition by account_id, bot_id, customer_id
                  order by occurred_at, event_id
                  rows between unbounded preceding and current row) as session_number
    from (
        select account_id, bot_id, customer_id, occurred_at, event_id,
               lag(occurred_at) over (partition by account_id, bot_id, customer_id
                                      order by occurred_at, event_id) as prev
        from staging.stg_botmeter__events
        where is_user_activity
    )
)
group by all
"""


def run_bare(warehouse: str, memory_limit: str | None = None) -> dict:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(warehouse)
    if memory_limit:
        con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute("create schema if not exists bench")
    t1 = time.perf_counter()
    con.execute(BARE_SQL)
    t2 = time.perf_counter()
    sessions = con.execute("select count(*) from bench.sessions_bare").fetchone()[0]
    user_events = con.execute("select sum(user_event_count) from bench.sessions_bare").fetchone()[0]
    con.execute("drop table bench.sessions_bare")
    con.close()
    return {
        "impl": "bare",
        "query_s": t2 - t1,
        "connect_s": t1 - t0,
        "sessions": int(sessions),
        "user_events": int(user_events or 0),
    }


def explain_bare(warehouse: str) -> str:
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    select = BARE_SQL.split(" as\n", 1)[1]
    rows = con.execute("explain analyze " + select).fetchall()
    con.close()
    return rows[0][1]


def run_pandas(warehouse: str) -> dict:
    import duckdb
    import pandas as pd

    t0 = time.perf_counter()
    con = duckdb.connect(warehouse, read_only=True)
    df = con.execute(
        "select account_id, bot_id, customer_id, occurred_at, event_id, channel "
        "from staging.stg_botmeter__events where is_user_activity"
    ).df()
    con.close()
    t1 = time.perf_counter()
    df = df.sort_values([*KEY, "occurred_at", "event_id"], ignore_index=True)
    gap = df.groupby(KEY, sort=False)["occurred_at"].diff()
    new_session = gap.isna() | (gap >= pd.Timedelta(minutes=TIMEOUT_MINUTES))
    df["session_number"] = (
        new_session.astype("int64").groupby([df[k] for k in KEY], sort=False).cumsum()
    )
    sessions = df.groupby([*KEY, "session_number"], sort=False).agg(
        session_start_at=("occurred_at", "min"),
        session_end_at=("occurred_at", "max"),
        user_event_count=("event_id", "size"),
        first_channel=("channel", "first"),
    )
    t2 = time.perf_counter()
    return {
        "impl": "pandas",
        "load_s": t1 - t0,
        "compute_s": t2 - t1,
        "total_s": t2 - t0,
        "sessions": int(len(sessions)),
        "user_events": int(len(df)),
    }


def count_model_sessions(warehouse: str) -> dict:
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    out = {
        "int_sessions": con.execute("select count(*) from intermediate.int_sessions").fetchone()[0],
        "fct_sessions": con.execute("select count(*) from marts.fct_sessions").fetchone()[0],
    }
    con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("impl", choices=["bare", "pandas", "counts", "explain"])
    p.add_argument("--warehouse", required=True)
    p.add_argument("--memory-limit")
    a = p.parse_args(argv)
    if a.impl == "bare":
        out = run_bare(a.warehouse, a.memory_limit)
    elif a.impl == "pandas":
        out = run_pandas(a.warehouse)
    elif a.impl == "counts":
        out = count_model_sessions(a.warehouse)
    else:
        print(explain_bare(a.warehouse))
        return 0
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

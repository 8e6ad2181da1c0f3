"""The core job without botmeter: what a data engineer would write by hand, as the yardstick.

Both read the landing folder directly, drop invalid lines, keep the earliest copy of each
event_id (arrival date, file, line), sessionize user activity (a user event 10 minutes or more
after the key's previous one starts a session; bot events do not count) and roll sessions up
by start day and the channel of their first event:

- ``duckdb``: one DuckDB script (LAG + running SUM): the lower bound for the same work;
- ``pandas``: json.loads per line, sort, groupby/diff, cumsum.

This is deliberately not the product's rule set (no quarantine, no impressions, no bot
dimension): only enough of it that the session count must equal botmeter's, which the
benchmark checks. ``python -m benchmarks.core_job duckdb|pandas --landing DIR`` prints JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import sys
import time
from pathlib import Path

TIMEOUT = dt.timedelta(minutes=10)
DATA_START = dt.datetime(2022, 2, 4, tzinfo=dt.UTC)
REQUIRED = ("event_id", "event_type", "occurred_at", "account_id", "bot_id", "customer_id", "actor")
ACTORS = ("user", "bot", "agent", "system")
EVENT_TYPES = ("impression", "conversation_started", "conversation_closed", "message",
               "intent_matched", "api_call", "ticket_created", "kpi_event")  # fmt: skip


def landing_files(landing: Path) -> list[tuple[str, Path]]:
    return sorted(
        (folder.name, path)
        for folder in landing.iterdir()
        if folder.is_dir()
        for path in folder.iterdir()
        if path.name.endswith((".jsonl", ".jsonl.gz"))
    )


DUCKDB_SQL = """
create temp table lines as
select split_part(filename, '/', -2) as arrival, filename as file,
       row_number() over (partition by filename) as line_no, line
from read_csv($files, columns = {'line': 'varchar'}, header = false, delim = '\x01',
              quote = '', escape = '', filename = true, compression = 'auto');

create temp table events as
select * exclude (rn) from (
    select *, row_number() over (partition by event_id order by arrival, file, line_no) as rn
    from (
        select arrival, file, line_no,
               line ->> 'event_id' as event_id,
               line ->> 'event_type' as event_type,
               line ->> 'actor' as actor,
               line ->> 'account_id' as account_id,
               line ->> 'bot_id' as bot_id,
               line ->> 'customer_id' as customer_id,
               line ->> 'channel' as channel,
               try_cast(line ->> 'occurred_at' as timestamptz) as occurred_at
        from lines
        where json_valid(line) and json_type(line) = 'OBJECT'
    )
    where event_id is not null and event_type is not null and occurred_at is not null
      and account_id is not null and bot_id is not null and customer_id is not null
      and actor in ('user', 'bot', 'agent', 'system')
      and event_type in ('impression', 'conversation_started', 'conversation_closed', 'message',
                         'intent_matched', 'api_call', 'ticket_created', 'kpi_event')
)
where rn = 1;

select session_date, channel, count(*) as sessions from (
    select account_id, bot_id, customer_id, session_no,
           cast(timezone('UTC', min(occurred_at)) as date) as session_date,
           arg_min(channel, (occurred_at, event_id)) as channel
    from (
        select *, sum(case when prev is null or occurred_at >= prev + interval 10 minute
                           then 1 else 0 end)
                  over (partition by account_id, bot_id, customer_id
                        order by occurred_at, event_id
                        rows between unbounded preceding and current row) as session_no
        from (
            select *, lag(occurred_at) over (partition by account_id, bot_id, customer_id
                                             order by occurred_at, event_id) as prev
            from events
            where actor = 'user' and event_type <> 'impression'
              and occurred_at >= timestamptz '2022-02-04 00:00:00+00'
        )
    )
    group by all
)
group by all
order by all
"""


def run_duckdb(landing: Path) -> dict:
    import duckdb

    files = [str(p) for _, p in landing_files(landing)]
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    *setup, rollup = [s for s in DUCKDB_SQL.split(";") if s.strip()]
    for statement in setup:
        con.execute(statement, {"files": files} if "$files" in statement else None)
    rows = con.execute(rollup).fetchall()
    return {"rollup_rows": len(rows), "sessions": int(sum(r[2] for r in rows))}


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def run_pandas(landing: Path) -> dict:
    import pandas as pd

    rows = []
    for arrival, path in landing_files(landing):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line_no, line in enumerate(handle, 1):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(event, dict) or any(event.get(f) is None for f in REQUIRED):
                    continue
                occurred_at = _parse_time(event["occurred_at"])
                if (
                    occurred_at is None
                    or event["actor"] not in ACTORS
                    or event["event_type"] not in EVENT_TYPES
                ):
                    continue
                rows.append(
                    (arrival, str(path), line_no, event["event_id"], event["event_type"],
                     event["actor"], event["account_id"], event["bot_id"], event["customer_id"],
                     event.get("channel"), occurred_at)
                )  # fmt: skip
    df = pd.DataFrame(
        rows,
        columns=["arrival", "file", "line_no", "event_id", "event_type", "actor", "account_id",
                 "bot_id", "customer_id", "channel", "occurred_at"],
    )  # fmt: skip
    df = df.sort_values(["arrival", "file", "line_no"]).drop_duplicates("event_id")
    key = ["account_id", "bot_id", "customer_id"]
    user = df[
        (df.actor == "user") & (df.event_type != "impression") & (df.occurred_at >= DATA_START)
    ].sort_values([*key, "occurred_at", "event_id"])
    gap = user.groupby(key, sort=False).occurred_at.diff()
    user = user.assign(starts=(gap.isna() | (gap >= TIMEOUT)).astype("int64"))
    user["session_no"] = user.groupby(key, sort=False).starts.cumsum()
    firsts = user.groupby([*key, "session_no"], sort=False).first()
    rollup = firsts.groupby([firsts.occurred_at.dt.date, "channel"], dropna=False).size()
    return {"rollup_rows": int(len(rollup)), "sessions": int(rollup.sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl", choices=["duckdb", "pandas"])
    parser.add_argument("--landing", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = (run_duckdb if args.impl == "duckdb" else run_pandas)(args.landing)
    print(json.dumps({"impl": args.impl, **out, "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

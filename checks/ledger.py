"""The check ledger: every check evaluation of a run, kept in the warehouse (`audit.check_results`).

Why: the publish gate must refuse marts that hold rows a blocking check rejected, including
rows from an earlier run that failed (its marts were built, then not published). Re-running
every blocking check over the whole warehouse before each publish made a daily run cost the
history. Instead each asset check records its outcome and window here, and the gate asks the
ledger: a blocking failure stays open until a later passing evaluation of the same check
covers its arrival dates. A blocking check the ledger never saw (a warehouse built outside
Dagster, or before the ledger existed) is evaluated on the whole warehouse, so the gate never
passes on missing evidence.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from checks.core import EVERYTHING, CheckOutcome, Window, table_exists

TABLE = "audit.check_results"

_DDL = f"""
create schema if not exists audit;
create table if not exists {TABLE} (
    evaluation_id bigint not null,
    check_name varchar not null,
    severity varchar not null,
    is_passed boolean not null,
    failed_count bigint not null,
    window_first_date date,  -- null: the whole history
    window_last_date date,
    message varchar not null,
    run_id varchar,
    evaluated_at timestamp not null
);
"""


def record(
    con: duckdb.DuckDBPyConnection,
    outcome: CheckOutcome,
    window: Window,
    run_id: str | None = None,
) -> None:
    """Append one evaluation (the id orders evaluations; timestamps can tie)."""
    con.execute(_DDL)
    con.execute(
        f"""insert into {TABLE}
            select coalesce(max(evaluation_id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?
            from {TABLE}""",
        [
            outcome.name,
            outcome.severity,
            bool(outcome.passed),
            int(outcome.failed_count),
            None if window.whole else window.first,
            None if window.whole else window.last,
            outcome.message(),
            run_id,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )


def open_failures(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Messages of blocking failures no later passing evaluation has covered."""
    if not table_exists(con, TABLE):
        return []
    rows = con.execute(
        f"""select f.message
            from {TABLE} as f
            where f.severity = 'blocking' and not f.is_passed
              and not exists (
                select 1 from {TABLE} as p
                where p.check_name = f.check_name
                  and p.is_passed
                  and p.evaluation_id > f.evaluation_id
                  and (
                    p.window_first_date is null
                    or (
                        f.window_first_date is not null
                        and p.window_first_date <= f.window_first_date
                        and p.window_last_date >= f.window_last_date
                    )
                  )
              )
            order by f.evaluation_id"""
    ).fetchall()
    return [r[0] for r in rows]


def evaluated_checks(con: duckdb.DuckDBPyConnection) -> set[str]:
    if not table_exists(con, TABLE):
        return set()
    return {r[0] for r in con.execute(f"select distinct check_name from {TABLE}").fetchall()}


def publish_gate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Why the marts must not be published (empty: publish). See the module docstring."""
    from checks.gate import run_checks

    failures = open_failures(con)
    seen = evaluated_checks(con)
    unseen = [o for o in run_checks(con, EVERYTHING, blocking_only=True, skip=seen) if not o.passed]
    return failures + [o.message() for o in unseen]

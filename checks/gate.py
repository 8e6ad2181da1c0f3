"""Run the checks outside Dagster (tests, ad-hoc audits, and the publish gate's fallback).

`blocking_failures(con)` runs every blocking check (GX billing suites and reconciliations)
and returns one message per failure (empty list = nothing blocking). The publish step itself
reads the check ledger instead of re-running everything (checks/ledger.py).
"""

from __future__ import annotations

import duckdb

from checks import freshness, reconciliation
from checks.core import EVERYTHING, CheckOutcome, Window
from checks.gx_suites import SUITES, run_suite
from checks.settings import CheckSettings, load_check_settings


class BlockingCheckFailed(RuntimeError):
    """Raised by `assert_publishable` when a blocking check fails."""


def run_checks(
    con: duckdb.DuckDBPyConnection,
    window: Window = EVERYTHING,
    blocking_only: bool = False,
    settings: CheckSettings | None = None,
    build_docs: bool = False,
    skip: set[str] | frozenset[str] = frozenset(),
) -> list[CheckOutcome]:
    """Every check (or only the blocking ones) on `window`, except those named in `skip`."""
    settings = settings or load_check_settings()
    outcomes = [
        run_suite(con, suite, window, settings, build_docs=build_docs)
        for suite in SUITES
        if (suite.severity == "blocking" or not blocking_only) and suite.name not in skip
    ]
    outcomes += [
        fn(con, window, settings)
        for name, fn in reconciliation.RECONCILIATIONS.items()
        if name not in skip
    ]
    if not blocking_only:
        outcomes += [
            freshness.newest_arrival(con, settings),
            freshness.volume_anomalies(con, window, settings),
        ]
    return outcomes


def blocking_failures(con: duckdb.DuckDBPyConnection, window: Window = EVERYTHING) -> list[str]:
    """Messages of the blocking checks that fail on `window` (default: the whole warehouse).
    Each names the check, the count and a sample of offending rows."""
    return [o.message() for o in run_checks(con, window, blocking_only=True) if not o.passed]


def assert_publishable(con: duckdb.DuckDBPyConnection, window: Window = EVERYTHING) -> None:
    failures = blocking_failures(con, window)
    if failures:
        raise BlockingCheckFailed(
            f"{len(failures)} blocking check(s) failed, marts not published: "
            + " | ".join(failures)
        )

"""Dagster asset checks for botmeter: `botmeter_asset_checks` (wired in definitions.py).

Each check validates only the run's slice (its arrival-date partition range, read from the
run's partition tags; a run without partition tags checks everything). Billing checks (data
start, uniqueness, reconciliation) are `blocking=True` with ERROR severity: a failure fails
the run, stops the dbt step when the check is on raw/events, and keeps the marts unpublished
until a later passing evaluation covers the failed arrival dates (every evaluation is
recorded in the warehouse's check ledger, `audit.check_results`: see checks/ledger.py). Other
checks WARN.

Metadata of every check: failed_count, a sample of offending rows, the slice validated and,
for a failing GX suite, the path of its Data Docs page.
"""

import datetime as dt
import json

import dagster as dg

from checks import freshness, ledger, reconciliation
from checks.core import BLOCKING, EVERYTHING, CheckOutcome, Window
from checks.gx_suites import SUITES, Suite, run_suite
from checks.settings import load_check_settings
from orchestration.resources import WarehouseResource

RAW_EVENTS = dg.AssetKey(["raw", "events"])


def run_window(context) -> Window:
    """The run's arrival dates from its partition tags (EVERYTHING if not partitioned)."""
    tags = context.run.tags if context.run else {}
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    single = tags.get("dagster/partition")
    try:
        if start and end:
            return Window(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        if single:
            day = dt.date.fromisoformat(single)
            return Window(day, day)
    except ValueError:
        pass
    return EVERYTHING


def to_check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    metadata: dict = {
        "failed_count": dg.MetadataValue.int(int(outcome.failed_count)),
        "summary": dg.MetadataValue.text(outcome.summary),
        "severity_policy": dg.MetadataValue.text(
            "blocking (fails the run, not published)" if outcome.blocking else "warn"
        ),
    }
    if outcome.sample:
        metadata["sample"] = dg.MetadataValue.json(
            json.loads(json.dumps(outcome.sample, default=str))
        )
    for key, value in outcome.details.items():
        if key == "data_docs":
            metadata["data_docs"] = dg.MetadataValue.path(value)
        elif isinstance(value, (list, dict)):
            metadata[key] = dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
        elif isinstance(value, bool):
            metadata[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            metadata[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            metadata[key] = dg.MetadataValue.float(value)
        else:
            metadata[key] = dg.MetadataValue.text(str(value))
    return dg.AssetCheckResult(
        passed=bool(outcome.passed),
        severity=dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN,
        description=outcome.message(),
        metadata=metadata,
    )


def _asset_key(table: str) -> dg.AssetKey:
    schema, name = table.split(".")
    return dg.AssetKey([schema, name])


def _check(name: str, asset: dg.AssetKey, description: str, blocking: bool, evaluate):
    @dg.asset_check(name=name, asset=asset, description=description, blocking=blocking)
    def _fn(context, warehouse: WarehouseResource):
        window = run_window(context)
        with warehouse.connection() as con:
            outcome = evaluate(con, window)
            ledger.record(con, outcome, window, context.run.run_id if context.run else None)
        context.log.info(outcome.message())
        return to_check_result(outcome)

    return _fn


def _suite_check(suite: Suite):
    return _check(
        suite.name,
        _asset_key(suite.table),
        f"[great-expectations, {suite.severity}] {suite.description}",
        suite.severity == BLOCKING,
        lambda con, window: run_suite(con, suite, window, load_check_settings()),
    )


def _known_keys() -> set[dg.AssetKey]:
    from orchestration.dbt_assets import botmeter_dbt_models

    return {RAW_EVENTS, *botmeter_dbt_models.keys}


def build_asset_checks() -> list:
    known = _known_keys()
    checks = [_suite_check(s) for s in SUITES if _asset_key(s.table) in known]
    extra = [
        (
            "raw_events_lines_reconcile",
            RAW_EVENTS,
            True,
            reconciliation.landing_balance,
            "[reconciliation, blocking] Per arrival date: lines read = accepted + rejected, and "
            "raw.load_audit matches the rows in raw.events and raw.quarantine (nothing lost).",
        ),
        (
            "stg_events_reconcile",
            dg.AssetKey(["staging", "stg_botmeter__events"]),
            True,
            reconciliation.staging_balance,
            "[reconciliation, blocking] Per arrival date: distinct staged events + duplicate "
            "copies = accepted events (nothing lost or doubled by deduplication).",
        ),
        (
            "sessions_rollups_match_fct_sessions",
            dg.AssetKey(["marts", "agg_sessions_daily_total"]),
            True,
            reconciliation.sessions_rollup_balance,
            "[reconciliation, blocking] Sessions per day and bot in agg_sessions_daily_total (and "
            "per month in agg_sessions_monthly_total) equal the count of fct_sessions.",
        ),
        (
            "sessions_assign_everything_in_window",
            dg.AssetKey(["marts", "fct_sessions"]),
            True,
            reconciliation.session_assignment,
            "[reconciliation, blocking] Every event, conversation and ticket inside a session "
            "window is assigned to that session (event_count, bridge, fct_tickets.session_id).",
        ),
        (
            "raw_events_freshness",
            RAW_EVENTS,
            False,
            lambda con, window: freshness.newest_arrival(con, load_check_settings()),
            "[freshness, warn] The newest landed arrival day ended at most "
            "freshness.max_lag_hours (default 36 h) ago (config/checks.yml).",
        ),
        (
            "raw_events_volume",
            RAW_EVENTS,
            False,
            freshness.volume_anomalies,
            "[volume, warn] Each landed arrival day read between 20% and 500% of the median "
            "lines of the 14 arrival days before it (config/checks.yml).",
        ),
    ]
    checks += [
        _check(name, key, desc, blocking, fn)
        for name, key, blocking, fn, desc in extra
        if key in known
    ]
    return checks


botmeter_asset_checks = build_asset_checks()

"""The landing asset: one arrival folder per daily partition into the raw layer, validated.

Each date lands in its own transaction (assets/landing.py). Once every date of the run is in,
its raw tables are written to the lake as Parquet (assets/lake.py), the great-expectations
suites validate the dates from those files (checks/raw_suites.py), the same on either engine,
and the result of the blocking suite is recorded on each date's landing (and its audit
Parquet), so a date whose raw checks did not pass is landed (and checked) again by the next
run rather than built.
"""

import datetime as dt
import json

import dagster as dg
from pydantic import Field

from assets.lake import export_raw
from assets.landing import (
    CONTRACT_VERSION,
    LandingResult,
    count_earlier_duplicates,
    land_partition,
    read_ahead,
    remove_dates,
)
from botmeter.settings import load_check_settings, load_rules
from checks.raw_suites import BLOCKING_SUITES, SUITE_DESCRIPTIONS, RawBatchValidator
from orchestration.partitions import daily_arrival_partitions
from orchestration.resources import WarehouseResource

RAW_EVENTS_KEY = dg.AssetKey(["raw", "events"])
OWNERS = ["team:botmeter-data"]


def _freshness() -> dg.FreshnessPolicy:
    """Warn when nothing was landed for max_landing_lag_hours (dbt_project.yml), fail a day
    later (evaluated by the Dagster daemon: `botmeter ui`, or a deployment)."""
    lag = dt.timedelta(hours=load_rules().max_landing_lag_hours)
    return dg.FreshnessPolicy.time_window(fail_window=lag + dt.timedelta(days=1), warn_window=lag)


class LandingConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Also empty the arrival dates this run does not land (a full refresh).",
    )


@dg.asset(
    key=RAW_EVENTS_KEY,
    partitions_def=daily_arrival_partitions(),
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="raw",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    code_version=str(CONTRACT_VERSION),
    freshness_policy=_freshness(),
    check_specs=[
        dg.AssetCheckSpec(
            name, asset=RAW_EVENTS_KEY, description=text, blocking=name in BLOCKING_SUITES
        )
        for name, text in SUITE_DESCRIPTIONS.items()
    ],
    description=(
        "Accepted raw events of each arrival date (every copy, with file and line), plus "
        "raw.quarantine (rejected lines with the reason), raw.landing_files (every file, read "
        "or skipped with the reason) and raw.load_audit / raw.load_history (the counts of "
        "each landing: lines read = accepted + rejected)."
    ),
)
def raw_events(
    context: dg.AssetExecutionContext, config: LandingConfig, warehouse: WarehouseResource
):
    rules, checks = load_rules(), load_check_settings()
    landing = warehouse.resolved_landing()
    dates = [dt.date.fromisoformat(k) for k in context.partition_keys]
    results: list[LandingResult] = []
    with warehouse.connection() as con:
        for batch in read_ahead(landing, sorted(dates)):
            result = land_partition(con, landing, batch.arrival_date, rules, checks, batch=batch)
            results.append(result)
            context.log.info(f"landed {result.summary()}")
            for name, reason in result.skipped:
                context.log.warning(f"{result.arrival_date}: skipped {name}: {reason}")
        earlier = count_earlier_duplicates(con, dates)
        for day in sorted(d for d, n in earlier.items() if n):
            context.log.info(
                f"{day}: {earlier[day]} events already delivered on an earlier arrival date "
                "(staging keeps the earliest copy)"
            )
        if config.full_refresh:
            for day in remove_dates(con, dates, rules, checks):
                context.log.info(f"emptied {day}: no arrival folder in this full refresh")
        lake = warehouse.lake()
        written = export_raw(con, lake)
        context.log.info(f"lake: {len(written)} arrival date(s) written to {lake}")
        project = warehouse.resolved_warehouse().parent / "gx"
        outcomes = RawBatchValidator(rules, checks, project).validate(lake, sorted(dates))
        failing = {d for o in outcomes if o.blocking and not o.passed for d in o.failing_dates}
        con.execute(
            "update raw.load_audit "
            "set contract_passed = not list_contains(?::date[], arrival_date) "
            "where list_contains(?::date[], arrival_date)",
            [sorted(failing), dates],
        )
        con.execute(
            "update raw.load_history as h set contract_passed = a.contract_passed "
            "from raw.load_audit as a where h.load_id = a.load_id "
            "and list_contains(?::date[], a.arrival_date)",
            [dates],
        )
        export_raw(con, lake)  # the verdicts: the audit tables of these dates only
    for result in results:
        context.add_asset_metadata(
            partition_key=result.arrival_date.isoformat(),
            metadata={
                "load_id": result.load_id,
                "lines_read": result.lines_read,
                "accepted": result.accepted,
                "rejected": result.rejected,
                "duplicates_within_day": result.duplicates_within_day,
                "duplicates_of_earlier_days": earlier.get(result.arrival_date, 0),
                "files_skipped": result.files_skipped,
            },
        )
    totals = {
        "partitions": len(results),
        "files": sum(r.files for r in results),
        "files_skipped": sum(r.files_skipped for r in results),
        "lines_read": sum(r.lines_read for r in results),
        "accepted": sum(r.accepted for r in results),
        "rejected": sum(r.rejected for r in results),
        "duplicates_within_day": sum(r.duplicates_within_day for r in results),
        "duplicates_of_earlier_days": sum(earlier.values()),
    }
    by_reason: dict[str, int] = {}
    for r in results:
        for reason, n in r.rejected_by_reason.items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    return dg.MaterializeResult(
        metadata={
            **{k: dg.MetadataValue.int(v) for k, v in totals.items()},
            "rejected_by_reason": dg.MetadataValue.json(by_reason),
            "summary": dg.MetadataValue.md(
                "\n".join(f"- {r.summary(earlier.get(r.arrival_date))}" for r in results)
            ),
            "warehouse": dg.MetadataValue.path(str(warehouse.resolved_warehouse())),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=o.name,
                passed=o.passed,
                severity=dg.AssetCheckSeverity.ERROR if o.blocking else dg.AssetCheckSeverity.WARN,
                description=o.summary,
                metadata={
                    "failed_count": o.failed_count,
                    "failing_dates": dg.MetadataValue.json([str(d) for d in o.failing_dates]),
                    "sample": dg.MetadataValue.json(json.loads(json.dumps(o.sample, default=str))),
                    "data_docs": dg.MetadataValue.path(o.data_docs or ""),
                },
            )
            for o in outcomes
        ],
    )

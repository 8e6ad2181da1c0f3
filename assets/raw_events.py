"""The raw landing asset: one arrival folder per daily partition into raw.events."""

import datetime as dt

import dagster as dg
from pydantic import Field

from assets.landing import land_partition, read_ahead
from orchestration.partitions import daily_arrival_partitions
from orchestration.progress import Progress
from orchestration.resources import WarehouseResource

RAW_EVENTS_KEY = dg.AssetKey(["raw", "events"])


class LandingConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Also drop raw rows of arrival dates this run does not land.",
    )


@dg.asset(
    key=RAW_EVENTS_KEY,
    partitions_def=daily_arrival_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="raw",
    kinds={"duckdb", "python"},
    description=(
        "Accepted raw events of each arrival date (every copy, with file and line), plus "
        "raw.quarantine for rejected lines and raw.load_audit for the per-partition counts."
    ),
)
def raw_events(
    context: dg.AssetExecutionContext, config: LandingConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    landing = warehouse.resolved_landing()
    dates = [dt.date.fromisoformat(k) for k in context.partition_keys]
    results = []
    with warehouse.connection() as con, Progress("landing", total=len(dates)) as progress:
        for batch in read_ahead(landing, sorted(dates)):
            day = batch.arrival_date
            result = land_partition(con, landing, day, batch=batch)
            context.log.info(result.summary())
            results.append(result)
            progress.advance(rows=result.lines_read, label=day.isoformat())
        if config.full_refresh:
            kept = [d.isoformat() for d in dates]
            for table in ("raw.events", "raw.quarantine", "raw.load_audit"):
                con.execute(
                    f"delete from {table} where not list_contains(?::date[], arrival_date)",
                    [kept],
                )
    totals = {
        "partitions": len(results),
        "files": sum(r.files for r in results),
        "lines_read": sum(r.lines_read for r in results),
        "accepted": sum(r.accepted for r in results),
        "rejected": sum(r.rejected for r in results),
        "duplicates_in_partition": sum(r.duplicates_in_partition for r in results),
    }
    by_reason: dict[str, int] = {}
    for r in results:
        for reason, n in r.rejected_by_reason.items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    return dg.MaterializeResult(
        metadata={
            **{k: dg.MetadataValue.int(v) for k, v in totals.items()},
            "rejected_by_reason": dg.MetadataValue.json(by_reason),
            "per_partition": dg.MetadataValue.md(
                "| arrival date | files | read | accepted | rejected | duplicates |\n"
                "|---|---|---|---|---|---|\n"
                + "\n".join(
                    f"| {r.arrival_date} | {r.files} | {r.lines_read} | {r.accepted} "
                    f"| {r.rejected} | {r.duplicates_in_partition} |"
                    for r in results
                )
            ),
            "warehouse": dg.MetadataValue.path(str(warehouse.resolved_warehouse())),
        }
    )

"""Serving assets: the published read-only file, its Parquet export and the dashboard.

Each is made from the one before and carries the dbt build it comes from, so a run after a
crash at any point knows which of them are stale (orchestration/pending.py).
"""

import os

import dagster as dg

from botmeter import publish, settings
from orchestration.resources import WarehouseResource

OWNERS = ["team:botmeter-data"]
PUBLISHED_KEY = dg.AssetKey(["serving", "published_warehouse"])
PARQUET_KEY = dg.AssetKey(["serving", "parquet_export"])
DASHBOARD_KEY = dg.AssetKey(["serving", "dashboard"])


def _mart_keys() -> list[dg.AssetKey]:
    from orchestration.dbt import botmeter_dbt_models

    groups = botmeter_dbt_models.group_names_by_key
    return sorted(
        (k for k, g in groups.items() if g in ("marts", "reporting")),
        key=lambda k: k.to_user_string(),
    )


@dg.asset(
    key=PUBLISHED_KEY,
    deps=_mart_keys(),
    group_name="serving",
    kinds={"duckdb"},
    owners=OWNERS,
    description=(
        "The marts and reporting models copied into a separate read-only DuckDB file "
        f"(storage version {publish.STORAGE_VERSION}, readable by DuckDB 1.x drivers) for BI "
        "tools, the report and the app. Made only from a dbt build that succeeded as a whole."
    ),
)
def published_warehouse(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    try:
        result = publish.publish(warehouse.resolved_warehouse(), warehouse.published())
    except publish.PublishError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(f"published {len(result.tables)} tables to {result.path}")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(result.build_id),
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "build_id": result.build_id,
            "storage_version": result.storage_version,
            "tables": len(result.tables),
            "rows": dg.MetadataValue.json(result.tables),
            "sqlalchemy_url": f"duckdb:///{result.path}?access_mode=read_only",
        },
    )


@dg.asset(
    key=PARQUET_KEY,
    deps=[PUBLISHED_KEY],
    group_name="serving",
    kinds={"parquet"},
    owners=OWNERS,
    description="Every published table as Parquet: parquet/<table>/data.parquet.",
)
def parquet_export(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    try:
        folder = publish.export_parquet(warehouse.published())
    except publish.PublishError as exc:
        raise dg.Failure(description=str(exc)) from None
    build_id = publish.parquet_build_id(warehouse.published())
    context.log.info(f"exported Parquet to {folder}")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(build_id or "unknown"),
        metadata={"path": dg.MetadataValue.path(str(folder)), "build_id": build_id or ""},
    )


@dg.asset(
    key=DASHBOARD_KEY,
    deps=[PUBLISHED_KEY],
    group_name="serving",
    kinds={"html"},
    owners=OWNERS,
    description=(
        "The Session Usage dashboard of every account: one self-contained HTML file (no "
        "network needed), the last 30 complete days."
    ),
)
def dashboard(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from botmeter.report import ReportError, build_report
    from botmeter.report.html import render_html

    published = warehouse.published()
    out = settings.dashboard_path(published)
    stamp = publish.read_stamp(published)
    if stamp is None:
        raise dg.Failure(description=f"published file {published} is missing or damaged")
    try:
        report = build_report(published)
    except ReportError as exc:  # an empty warehouse is not a failed run
        context.log.warning(f"dashboard not written: {exc}")
        return dg.MaterializeResult(metadata={"skipped": str(exc)})
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_html(report, build_id=stamp.build_id), encoding="utf-8")
    os.replace(tmp, out)
    context.log.info(f"wrote the dashboard {out}")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(stamp.build_id),
        metadata={
            "path": dg.MetadataValue.path(str(out)),
            "range": f"{report['filters']['from']}..{report['filters']['to']}",
            "sessions": report["kpis"]["sessions"],
        },
    )

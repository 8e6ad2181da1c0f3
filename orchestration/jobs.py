"""Jobs built from asset selections, and the run request that does what is pending."""

from __future__ import annotations

import hashlib
import json

import dagster as dg
from dagster_dbt import build_dbt_asset_selection

from assets.kpi_definitions import kpi_definitions
from assets.raw_events import raw_events
from assets.serving import (
    DASHBOARD_KEY,
    PARQUET_KEY,
    PUBLISHED_KEY,
    dashboard,
    parquet_export,
    published_warehouse,
)
from orchestration.dbt import botmeter_dbt_models
from orchestration.pending import PARTITION_RANGE_END, PARTITION_RANGE_START, Pending

RAW = dg.AssetSelection.assets(raw_events)
MODELS = dg.AssetSelection.assets(kpi_definitions) | build_dbt_asset_selection(
    [botmeter_dbt_models], dbt_select="fqn:*"
)
SERVING = dg.AssetSelection.assets(published_warehouse, parquet_export, dashboard)

daily_job = dg.define_asset_job(
    name="botmeter_daily",
    selection=RAW | MODELS | SERVING,
    description=(
        "Land arrival dates, build every dbt model and test, publish. A run selects the part "
        "that is pending (orchestration/pending.py): a range of arrival dates to land, the "
        "models, or only the serving assets."
    ),
)


def _keys(selection: dg.AssetSelection, asset_graph) -> set[dg.AssetKey]:
    return set(selection.resolve(asset_graph))


def next_run_request(pending: Pending, asset_graph) -> dg.RunRequest | None:
    """The one run that does the next part of what is pending (None: nothing).

    Landing comes first, one contiguous range of arrival dates per run; the last range also
    builds and publishes, unless its folders hold no event file (an empty arrival day). With
    nothing to land, a run builds and publishes, or only refreshes the serving assets that
    are stale."""
    keys: set[dg.AssetKey] = set()
    config: dict = {}
    tags: dict[str, str] = {}
    ranges = pending.land_ranges()
    build = bool(pending.build) or (len(ranges) == 1 and pending.may_change_rows(*ranges[0]))
    if ranges:
        first, last = ranges[0]
        keys |= _keys(RAW, asset_graph)
        tags = {PARTITION_RANGE_START: first.isoformat(), PARTITION_RANGE_END: last.isoformat()}
        config["raw__events"] = {"config": {"full_refresh": pending.full_refresh}}
    if build and (len(ranges) <= 1):
        keys |= _keys(MODELS, asset_graph) | _keys(SERVING, asset_graph)
        config["botmeter_dbt_models"] = {"config": {"full_refresh": pending.full_refresh}}
    elif not ranges:
        if pending.publish:
            keys |= {PUBLISHED_KEY, PARQUET_KEY, DASHBOARD_KEY}
        keys |= {PARQUET_KEY} if pending.parquet else set()
        keys |= {DASHBOARD_KEY} if pending.dashboard else set()
    if not keys:
        return None
    ordered = sorted(keys, key=lambda k: k.to_user_string())
    digest = hashlib.sha256(
        json.dumps([[k.to_user_string() for k in ordered], tags, config]).encode()
    ).hexdigest()[:16]
    return dg.RunRequest(
        job_name=daily_job.name,
        asset_selection=ordered,
        run_config={"ops": config} if config else {},
        tags={**tags, "botmeter/pending": "; ".join(pending.describe())[:900]},
        run_key=digest,
    )

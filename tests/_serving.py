"""A small demo warehouse for the serving tests (publish, report, dashboard)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

START = dt.date(2024, 3, 1)


def refresh_manifest() -> None:
    """Re-parse before orchestration.dbt_assets is imported: its @dbt_assets reads
    target/manifest.json at import time, so a stale manifest misses newly added models.
    prepare_manifest renames the result into place, so parallel workers never race."""
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()


if "orchestration.dbt_assets" not in __import__("sys").modules:
    refresh_manifest()
DAYS = 10


def build_small_warehouse(
    root: Path, days: int = DAYS, per_day: int = 150
) -> tuple[Path, Path, Path]:
    """Generate events, run the full pipeline (which publishes).

    Returns the landing dir, the working warehouse and the published warehouse.
    """
    from botmeter import settings
    from tools.generator import generate

    os.environ.setdefault("DAGSTER_HOME", str(root / "dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate(landing, start=START, days=days, seed=7, events_per_day=per_day)
    run_full(landing, warehouse, days)
    return landing, warehouse, settings.published_path(warehouse=warehouse)


def run_full(landing: Path, warehouse: Path, days: int = DAYS) -> None:
    """The whole Dagster job (land, dbt build, publish, dashboard).

    Same as `botmeter run --full-refresh`.
    """
    from botmeter.cli import execute_job

    execute_job(landing, warehouse, START, START + dt.timedelta(days=days - 1), True)

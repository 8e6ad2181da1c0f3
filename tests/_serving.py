"""A small demo warehouse built by the real pipeline, for the serving tests (publish, report,
dashboard, CLI)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

START = dt.date(2024, 3, 1)
DAYS = 10


def build_small_warehouse(
    root: Path, days: int = DAYS, per_day: int = 150
) -> tuple[Path, Path, Path]:
    """Generate events and run the whole pipeline (land, build, publish, dashboard).

    Returns the landing dir, the working warehouse and the published warehouse.
    """
    from botmeter import settings
    from tools.generator import generate

    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate(landing, start=START, days=days, seed=7, events_per_day=per_day)
    run_full(landing, warehouse)
    return landing, warehouse, settings.published_path(warehouse=warehouse)


_SHARED: dict[str, tuple[Path, Path, Path]] = {}


def shared_small_warehouse(tmp_path_factory) -> tuple[Path, Path, Path]:
    """One `build_small_warehouse` per test process, for the modules that only read it (the
    report and the dashboard tests): a pipeline build is the suite's costliest step."""
    if "built" not in _SHARED:
        _SHARED["built"] = build_small_warehouse(tmp_path_factory.mktemp("small_warehouse"))
    return _SHARED["built"]


def run_full(landing: Path, warehouse: Path) -> list[str]:
    """`botmeter run --full-refresh`, in this process; DAGSTER_HOME is the warehouse's own
    instance (restored afterwards, so tests do not leak it)."""
    from botmeter.pipeline import run_pipeline

    previous = os.environ.get("DAGSTER_HOME")
    try:
        return run_pipeline(landing, warehouse, full_refresh=True, echo=lambda line: None)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous

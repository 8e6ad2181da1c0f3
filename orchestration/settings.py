"""Project-wide constants and run-time path resolution.

Environment variables are read when a path is resolved, never at import time, so tests and
the CLI can point botmeter at another warehouse without re-importing modules.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Product rule: data before this instant is never counted anywhere (UTC).
DATA_START_DATE = dt.date(2022, 2, 4)
DATA_START_AT = dt.datetime(2022, 2, 4, 0, 0, 0)

WAREHOUSE_ENV = "BOTMETER_WAREHOUSE"
LANDING_ENV = "BOTMETER_LANDING"
PUBLISHED_ENV = "BOTMETER_PUBLISHED"
KPI_CONFIG_ENV = "BOTMETER_KPI_CONFIG"

DEFAULT_WAREHOUSE = PROJECT_ROOT / "data" / "warehouse.duckdb"
DEFAULT_LANDING = PROJECT_ROOT / "data" / "landing"


def _resolve(explicit: str | os.PathLike | None, env_name: str, default: Path) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    from_env = os.environ.get(env_name)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return default


def warehouse_path(explicit: str | os.PathLike | None = None) -> Path:
    """The pipeline's working DuckDB file: flag, then $BOTMETER_WAREHOUSE, then data/."""
    return _resolve(explicit, WAREHOUSE_ENV, DEFAULT_WAREHOUSE)


def landing_path(explicit: str | os.PathLike | None = None) -> Path:
    """The landing folder that holds `events/<YYYY-MM-DD>/` arrival folders."""
    return _resolve(explicit, LANDING_ENV, DEFAULT_LANDING)


def kpi_config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The user-defined KPI file: flag, then $BOTMETER_KPI_CONFIG, then config/kpis.yml."""
    return _resolve(explicit, KPI_CONFIG_ENV, PROJECT_ROOT / "config" / "kpis.yml")


# Inside the published file: when it was made (written by publish, read to tell it apart).
PUBLISH_INFO_TABLE = "meta.publish_info"


def dashboard_path(published: Path) -> Path:
    """The dashboard the pipeline writes beside the published file."""
    return published.parent / "dashboard.html"


def published_path(
    explicit: str | os.PathLike | None = None, warehouse: Path | None = None
) -> Path:
    """The read-only copy of the marts that BI tools open (next to the working file)."""
    wh = warehouse or warehouse_path()
    return _resolve(explicit, PUBLISHED_ENV, wh.with_name(f"{wh.stem}_published.duckdb"))

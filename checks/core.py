"""Shared pieces of the checks: outcomes, the run's slice of data, table lookups."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from orchestration.settings import DATA_START_AT, DATA_START_DATE

BLOCKING = "blocking"
WARN = "warn"


@dataclass
class CheckOutcome:
    """The result of one check, independent of Dagster (the gate and tests use it directly)."""

    name: str
    passed: bool
    severity: str  # BLOCKING or WARN
    summary: str
    failed_count: int = 0
    sample: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING

    def message(self) -> str:
        text = f"{self.name}: {self.summary}"
        if not self.passed and self.sample:
            text += f"; sample: {json.dumps(self.sample[:3], default=str)}"
        return text


@dataclass(frozen=True)
class Window:
    """Arrival dates a run landed; (None, None) means the whole history."""

    first: dt.date | None = None
    last: dt.date | None = None

    @property
    def whole(self) -> bool:
        return self.first is None or self.last is None

    def __str__(self) -> str:
        return "all arrival dates" if self.whole else f"arrival dates {self.first}..{self.last}"


EVERYTHING = Window()


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def columns(con: duckdb.DuckDBPyConnection, qualified: str) -> list[str]:
    schema, name = qualified.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? "
            "and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def records(frame: pd.DataFrame, limit: int) -> list[dict]:
    """JSON-friendly rows for metadata."""
    out = []
    for row in frame.head(limit).to_dict("records"):
        out.append(
            {
                k: (None if _isna(v) else (v if isinstance(v, (int, float, str, bool)) else str(v)))
                for k, v in row.items()
            }
        )
    return out


def _isna(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def new_events_from(con: duckdb.DuckDBPyConnection, window: Window) -> dt.datetime | None:
    """Earliest event time landed in the window (None: whole history or nothing landed)."""
    if window.whole:
        return None
    value = con.execute(
        "select min(occurred_at) from raw.events where arrival_date between ? and ?",
        [window.first, window.last],
    ).fetchone()[0]
    return value


def affected_from(con: duckdb.DuckDBPyConnection, window: Window) -> dt.datetime:
    """Start of the mart slice a run can have changed: the earliest new event, moved back to
    the start of the session whose window was still open then. Whole history: DATA_START_AT
    minus a safety margin (everything)."""
    t_min = new_events_from(con, window)
    if t_min is None:
        return dt.datetime(1970, 1, 1) if window.whole else dt.datetime(9999, 12, 31)
    if table_exists(con, "marts.fct_sessions"):
        earlier = con.execute(
            "select min(session_start_at) from marts.fct_sessions where session_window_end_at > ?",
            [t_min],
        ).fetchone()[0]
        if earlier is not None and earlier < t_min:
            return earlier
    return t_min


__all__ = [
    "BLOCKING",
    "WARN",
    "CheckOutcome",
    "DATA_START_AT",
    "DATA_START_DATE",
    "EVERYTHING",
    "Window",
    "affected_from",
    "columns",
    "records",
    "table_exists",
]

"""Freshness and volume checks on the landing audit (both warn, never block).

- Newest arrival: warn when the end of the newest landed arrival day (arrival date + 1 day,
  00:00 UTC) is more than `freshness.max_lag_hours` (default 36) hours before now. The daily
  02:00 run lands yesterday, so a healthy warehouse is at most ~26 h behind.
- Volume: warn when an arrival day of the run read fewer than `low_ratio` (20%) or more than
  `high_ratio` (500%) times the median lines of the `trailing_days` (14) arrival days before
  it; days with less than `min_history_days` of history are not judged.
"""

from __future__ import annotations

import datetime as dt
import statistics

import duckdb

from checks.core import WARN, CheckOutcome, Window, table_exists
from checks.settings import CheckSettings, load_check_settings


def newest_arrival(
    con: duckdb.DuckDBPyConnection,
    settings: CheckSettings | None = None,
    now: dt.datetime | None = None,
) -> CheckOutcome:
    settings = settings or load_check_settings()
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    name = "raw_events_freshness"
    newest = None
    if table_exists(con, "raw.load_audit"):
        newest = con.execute(
            "select max(arrival_date) from raw.load_audit where lines_read > 0"
        ).fetchone()[0]
    if newest is None:
        return CheckOutcome(
            name,
            False,
            WARN,
            "nothing landed yet",
            failed_count=1,
            details={"max_lag_hours": settings.max_lag_hours},
        )
    complete_at = dt.datetime.combine(newest, dt.time()) + dt.timedelta(days=1)
    lag_hours = (now - complete_at).total_seconds() / 3600
    ok = lag_hours <= settings.max_lag_hours
    summary = (
        f"newest arrival date {newest} is {lag_hours:.1f} h old "
        f"({'within' if ok else 'over'} the {settings.max_lag_hours:g} h limit)"
    )
    return CheckOutcome(
        name,
        ok,
        WARN,
        summary,
        failed_count=0 if ok else 1,
        sample=[]
        if ok
        else [{"newest_arrival_date": str(newest), "lag_hours": round(lag_hours, 1)}],
        details={
            "newest_arrival_date": str(newest),
            "lag_hours": round(lag_hours, 1),
            "max_lag_hours": settings.max_lag_hours,
        },
    )


def volume_anomalies(
    con: duckdb.DuckDBPyConnection, window: Window, settings: CheckSettings | None = None
) -> CheckOutcome:
    settings = settings or load_check_settings()
    name = "raw_events_volume"
    rows = (
        con.execute(
            "select arrival_date, lines_read from raw.load_audit order by arrival_date"
        ).fetchall()
        if table_exists(con, "raw.load_audit")
        else []
    )
    volumes = dict(rows)
    days = [d for d in volumes if window.whole or window.first <= d <= window.last]
    flagged, judged = [], 0
    for day in days:
        history = [
            volumes[d]
            for d in volumes
            if day - dt.timedelta(days=settings.trailing_days) <= d < day
        ]
        if len(history) < settings.min_history_days:
            continue
        judged += 1
        median = statistics.median(history)
        ratio = volumes[day] / median if median else float("inf") if volumes[day] else 1.0
        if ratio < settings.low_ratio or ratio > settings.high_ratio:
            flagged.append(
                {
                    "arrival_date": str(day),
                    "lines_read": volumes[day],
                    "trailing_median": median,
                    "ratio": round(ratio, 3),
                }
            )
    ok = not flagged
    band = f"{settings.low_ratio:.0%}..{settings.high_ratio:.0%}"
    summary = (
        f"{judged} arrival day(s) judged, all within {band} "
        f"of the trailing {settings.trailing_days}-day median"
        if ok
        else f"{len(flagged)} arrival day(s) outside {band} "
        f"of the trailing {settings.trailing_days}-day median"
    )
    return CheckOutcome(
        name,
        ok,
        WARN,
        summary,
        failed_count=len(flagged),
        sample=flagged[: settings.sample_rows],
        details={"days_judged": judged, "window": str(window)},
    )

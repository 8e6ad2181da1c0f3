"""`botmeter run`: do what is pending, through the same Dagster jobs the schedule and the
sensor launch, in this process and recorded in the warehouse's Dagster instance.

The run holds the warehouse's run lock from the first read to the last write, asks what is
pending (orchestration/pending.py), executes the run request that does the next part of it,
and asks again, until nothing is pending or a run fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import traceback
import warnings
from pathlib import Path

from botmeter import settings

# Enough for one run per contiguous range of arrival dates to land, then a build.
MAX_RUNS = 50
# A multi-day run records one "materialization planned" event per asset instead of one per
# asset and arrival date (Dagster's SQLite event log otherwise writes assets x days events
# before the first step starts). Trade-off, from Dagster: when such a run fails, its
# partitions are not marked failed one by one (the run still is).
PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


class RunError(Exception):
    """A failure explained in one line."""


def prepare_dagster_home(warehouse: Path) -> Path:
    """The warehouse's Dagster instance folder, created with telemetry off."""
    home = settings.dagster_home(warehouse)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # default local storage; no telemetry (no network at run time)
        config.write_text("telemetry:\n  enabled: false\n")
    return home


@contextlib.contextmanager
def dagster_instance(warehouse: Path):
    """The warehouse's Dagster instance (Dagster finds it through DAGSTER_HOME, set for the
    duration of the block only, so one process can run several warehouses)."""
    import dagster as dg

    home = prepare_dagster_home(warehouse)
    previous = os.environ.get(settings.DAGSTER_HOME_ENV)
    os.environ[settings.DAGSTER_HOME_ENV] = str(home)
    os.environ.setdefault(PLANNED_EVENTS_ENV, "true")
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop(settings.DAGSTER_HOME_ENV, None)
        else:
            os.environ[settings.DAGSTER_HOME_ENV] = previous


def _definitions(warehouse: Path):
    """The code location's Definitions, with the dbt manifest parsed first (the dbt assets
    read it when they are imported)."""
    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from orchestration.dbt import parsing_manifest

    with parsing_manifest(warehouse):
        # While dbt parses in its own process, import what the run needs anyway.
        import dagster_dbt  # noqa: F401
        import great_expectations  # noqa: F401
    from orchestration.definitions import defs

    return defs


def run_pipeline(
    landing: Path,
    warehouse: Path,
    start: dt.date | None = None,
    end: dt.date | None = None,
    full_refresh: bool = False,
    echo=None,
    engine: str | None = None,
) -> list[str]:
    """Land, build and publish what is pending (or `start..end`, or everything with
    `full_refresh`), the models built on `engine` (settings.engine). Progress goes to `echo`
    as it happens; returns the closing lines. Raises RunError with a one-line cause."""
    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    from assets.landing import LandingError, events_root
    from orchestration.resources import (
        WarehouseCorruptError,
        WarehouseLockedError,
        run_lock,
    )

    try:  # before anything is written: a bad configuration must not touch data
        settings.validate_configuration()
        settings.check_paths(warehouse, landing)
        engine = settings.engine(engine)
        if engine == "spark":
            settings.spark_dbt_executable()
    except settings.ConfigError as exc:
        raise RunError(str(exc)) from None
    if not events_root(landing).is_dir():
        raise RunError(
            f"landing folder not found: {events_root(landing)} (expected events/<YYYY-MM-DD>/)"
        )
    try:
        with run_lock(warehouse):
            return _run_pending(landing, warehouse, start, end, full_refresh, echo, engine)
    except (WarehouseLockedError, WarehouseCorruptError, LandingError) as exc:
        raise RunError(str(exc)) from None
    except RunError:
        raise
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback in the log
        log_path = _log_path(warehouse)
        with contextlib.suppress(OSError), open(log_path, "a", encoding="utf-8") as log:
            traceback.print_exc(file=log)
        detail = str(exc).strip().splitlines()
        raise RunError(
            f"{type(exc).__name__}: {detail[0] if detail else 'unexpected error'} "
            f"(traceback: {log_path})"
        ) from None


def _log_path(warehouse: Path) -> Path:
    return warehouse.parent / "logs" / "botmeter_run.log"


def _run_pending(landing, warehouse, start, end, full_refresh, echo, engine) -> list[str]:
    defs = _definitions(warehouse)
    from orchestration.dbt import botmeter_dbt_models
    from orchestration.jobs import next_run_request
    from orchestration.pending import changed_dbt_models, find_pending

    log_path = _log_path(warehouse)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    done: list[str] = []
    with dagster_instance(warehouse) as instance:
        first = True
        for _ in range(MAX_RUNS):
            changed = changed_dbt_models(instance, botmeter_dbt_models)
            asked = dict(start=start, end=end, full_refresh=full_refresh) if first else {}
            pending = find_pending(warehouse, landing, changed_models=changed, **asked)
            if first:
                for name, reason in pending.ignored:
                    echo(f"ignored {landing / 'events' / name}: {reason}")
            request = next_run_request(pending, defs.resolve_asset_graph())
            if request is None:
                break
            for line in pending.describe():
                echo(line)
            result = _execute(defs, instance, request, landing, warehouse, log_path, engine)
            done.append(_check_summary(result))
            if not result.success:
                raise RunError(f"{_first_failure(result)} (log: {log_path})")
            first = False
        else:
            raise RunError(f"still pending after {MAX_RUNS} runs: {'; '.join(pending.describe())}")
    if not done:
        return ["nothing new: every landed arrival day is built and published"]
    published = settings.published_path(warehouse=warehouse)
    return [*done, f"published: {published}"]


def _execute(defs, instance, request, landing: Path, warehouse: Path, log_path: Path, engine: str):
    job = defs.resolve_job_def(request.job_name)
    run_config = {
        **(request.run_config or {}),
        "loggers": {"progress": {}, "file": {"config": {"path": str(log_path)}}},
        "resources": {
            "warehouse": {
                "config": {
                    "warehouse_path": str(warehouse),
                    "landing_path": str(landing),
                    "engine": engine,
                    "hold_lock": False,  # this process holds it for the whole command
                }
            }
        },
    }
    # dbt's own output (dagster-dbt echoes it to standard output) goes to the log file; the
    # progress logger prints one line per stage on standard error.
    with open(log_path, "a") as log, contextlib.redirect_stdout(log):
        return job.execute_in_process(
            run_config=run_config,
            instance=instance,
            tags=request.tags,
            asset_selection=request.asset_selection,
            raise_on_error=False,
        )


def _check_summary(result) -> str:
    """`checks: N passed, M failed` over every asset check evaluated in the run."""
    import dagster as dg

    evaluations = result.get_asset_check_evaluations()
    passed = sum(e.passed for e in evaluations)
    failed = [e for e in evaluations if not e.passed]
    blocking = sum(e.severity == dg.AssetCheckSeverity.ERROR for e in failed)
    names = ", ".join(sorted({e.check_name for e in failed})[:5])
    detail = f" ({blocking} blocking: {names})" if failed else ""
    return f"checks: {passed} passed, {len(failed)} failed{detail}"


def _first_failure(result) -> str:
    """The run's failure in one line: the blocking checks that failed, else the first failed
    step's innermost cause (for dbt, the first error dbt logged)."""
    import dagster as dg

    blocking = sorted(
        {
            e.check_name
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        }
    )
    if blocking:
        return f"{len(blocking)} blocking check(s) failed, nothing was published: " + ", ".join(
            blocking[:5]
        )
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            err = event.step_failure_data.error
            while err is not None and err.cause is not None:
                err = err.cause
            text = (err.message if err else "").strip()
            marker = "Errors parsed from dbt logs:"
            if marker in text:
                text = text.split(marker, 1)[1].strip()
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            return f"step {event.step_key} failed: {lines[0] if lines else 'unknown error'}"
    return "run failed (see the log file)"

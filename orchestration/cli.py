"""The `botmeter` command: generate demo data, run the pipeline, look at the results.

Runs go through Dagster's Python API against the local Dagster instance (DAGSTER_HOME, by
default `.dagster/` in the project), so every CLI run shows up in `dagster dev`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import subprocess
import sys
import warnings
from pathlib import Path

from orchestration import settings

DAGSTER_HOME_DEFAULT = settings.PROJECT_ROOT / ".dagster"


class CliError(Exception):
    """A failure explained in one line; the CLI prints it and exits non-zero."""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


# A multi-day run records one "materialization planned" event per asset instead of one per
# asset and arrival date (Dagster's SQLite event log otherwise writes assets x days events
# before the first step starts: ~20 s for a 30-day rebuild). Trade-off, from Dagster: when
# such a run fails, its partitions are not marked failed one by one (the run still is).
PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def _ensure_dagster_home() -> Path:
    os.environ.setdefault(PLANNED_EVENTS_ENV, "true")
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DAGSTER_HOME_DEFAULT)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # default local storage; no telemetry (no network at run time)
        config.write_text("telemetry:\n  enabled: false\n")
    return home


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.generator import generate

    start = args.start or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=args.days))
    summary = generate(
        Path(args.out), start=start, days=args.days, seed=args.seed, events_per_day=args.scale
    )
    print(
        f"wrote {summary.lines} lines ({summary.events} events, {summary.duplicates} duplicates, "
        f"{summary.malformed} malformed, {summary.late} late) in {len(summary.files)} files "
        f"under {Path(args.out) / 'events'}"
    )
    return 0


def run_pipeline(
    landing: Path,
    warehouse: Path,
    start: dt.date | None = None,
    end: dt.date | None = None,
    full_refresh: bool = False,
) -> list[str]:
    """Land the arrival dates present in `landing` (within start..end) and update every model.

    Returns the per-partition summary lines. Raises CliError with a one-line cause.
    """
    from assets.landing import LandingError, list_arrival_dates
    from checks.config_validation import ConfigError, validate_configuration

    try:  # before anything is written: a corrupted configuration must not touch data
        validate_configuration()
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    try:
        dates, ignored = list_arrival_dates(landing)
    except LandingError as exc:
        raise CliError(str(exc)) from exc
    for name in ignored:
        print(f"ignored {landing / 'events' / name}: not an arrival-date folder (YYYY-MM-DD)")
    dates = [d for d in dates if (start is None or d >= start) and (end is None or d <= end)]
    dates = [d for d in dates if d >= settings.DATA_START_DATE]
    if start and end and start > end:
        raise CliError(f"--start {start} is after --end {end}")
    if not dates:
        raise CliError(f"no arrival folders to land under {landing / 'events'} in that range")
    if start is None and end is None and not full_refresh:
        dates = _new_or_changed(landing, warehouse, dates)
        if not dates:
            return [f"nothing new under {landing / 'events'}: the warehouse is up to date"]
    first, last = (start or dates[0]), (end or dates[-1])
    return execute_job(landing, warehouse, first, last, full_refresh)


def _new_or_changed(landing: Path, warehouse: Path, dates: list[dt.date]) -> list[dt.date]:
    """Arrival dates never landed, or whose files changed since (raw.load_audit's
    fingerprint), so a daily `botmeter run` costs the new day, not the whole history."""
    import duckdb

    from assets.landing import folder_fingerprint, partition_folder
    from orchestration.resources import WarehouseLockedError, connect

    if not warehouse.exists():
        return dates
    try:
        con = connect(warehouse, read_only=True)
    except WarehouseLockedError as exc:
        raise CliError(str(exc)) from exc
    try:
        landed = dict(
            con.execute("select arrival_date, files_fingerprint from raw.load_audit").fetchall()
        )
    except duckdb.Error:  # no raw layer yet (or an older one): land everything
        return dates
    finally:
        con.close()
    return [d for d in dates if landed.get(d) != folder_fingerprint(partition_folder(landing, d))]


def execute_job(
    landing: Path, warehouse: Path, first: dt.date, last: dt.date, full_refresh: bool
) -> list[str]:
    import dagster as dg

    _ensure_dagster_home()
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from orchestration.dbt_project import dbt_run_vars, parsing_manifest

    run_vars = None if full_refresh else dbt_run_vars(first.isoformat(), last.isoformat())
    with parsing_manifest(warehouse, run_vars):
        # The definitions need the manifest; while dbt parses it in its own process, import
        # what the run will need anyway (about 4 s of a run's fixed cost on 2 cores).
        import dagster_dbt  # noqa: F401
        import great_expectations  # noqa: F401
    from orchestration.definitions import defs

    job = defs.resolve_job_def("botmeter_daily")
    run_config = {
        "ops": {
            "raw__events": {"config": {"full_refresh": full_refresh}},
            "botmeter_dbt_models": {"config": {"full_refresh": full_refresh}},
        },
        # Dagster's step-by-step DEBUG log stays in the instance (see `botmeter ui`).
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "resources": {
            "warehouse": {
                "config": {"warehouse_path": str(warehouse), "landing_path": str(landing)}
            }
        },
    }
    tags = {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
        "botmeter/full_refresh": str(full_refresh).lower(),
    }
    log_path = warehouse.parent / "logs" / "botmeter_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # dbt's own progress lines go to the log file; the terminal gets the summaries.
    with (
        dg.DagsterInstance.get() as instance,
        open(log_path, "w") as log,
        contextlib.redirect_stdout(log),
    ):
        result = job.execute_in_process(
            run_config=run_config, instance=instance, tags=tags, raise_on_error=False
        )
    checks = _check_summary(result)
    if not result.success:
        raise CliError(f"{_first_failure(result)} ({checks}; dbt log: {log_path})")
    return [*_partition_summaries(warehouse, first, last), *_unchanged_models(result), checks]


def _unchanged_models(result) -> list[str]:
    from orchestration.dbt_assets import UNCHANGED_METADATA_KEY

    for event in result.get_asset_observation_events():
        if UNCHANGED_METADATA_KEY in event.asset_observation_data.asset_observation.metadata:
            return [
                "models: up to date (the raw rows were already built and published); "
                "dbt, the mart checks and the publish were skipped"
            ]
    return []


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
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            err = event.step_failure_data.error
            message = (err.message if err else "").strip().splitlines()
            cause = err.cause if err else None
            while cause is not None and cause.cause is not None:
                cause = cause.cause
            detail = (cause.message.strip().splitlines() if cause else []) or message
            return f"step {event.step_key} failed: {detail[0] if detail else 'unknown error'}"
    return "run failed (see `dagster dev` for the run's logs)"


def _partition_summaries(warehouse: Path, first: dt.date, last: dt.date) -> list[str]:
    from orchestration.resources import connect

    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute(
            """
            select arrival_date, files, lines_read, accepted, rejected, duplicates_in_partition
            from raw.load_audit where arrival_date between ? and ? order by arrival_date
            """,
            [first, last],
        ).fetchall()
    finally:
        con.close()
    return [
        f"{d}: files={f} read={r} accepted={a} rejected={j} duplicates={u}"
        for d, f, r, a, j, u in rows
    ]


def cmd_run(args: argparse.Namespace) -> int:
    landing = settings.landing_path(args.landing)
    warehouse = settings.warehouse_path(args.warehouse)
    for line in run_pipeline(landing, warehouse, args.start, args.end, args.full_refresh):
        print(line)
    print(f"warehouse: {warehouse}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.generator import generate

    landing = settings.landing_path(args.landing)
    warehouse = settings.warehouse_path(args.warehouse)
    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=args.days - 1)
    summary = generate(
        landing, start=start, days=args.days, seed=args.seed, events_per_day=args.scale
    )
    print(f"generated {summary.lines} lines for {start}..{end} under {landing / 'events'}")
    for line in run_pipeline(landing, warehouse, start, end, full_refresh=True):
        print(line)
    published = settings.published_path(warehouse=warehouse)
    print(
        f"\nbuilt warehouse {warehouse}\n"
        f"published read-only copy for BI tools: {published}\n"
        "look at it:\n"
        "  .venv/bin/botmeter report          # the Session Usage report (add --format html)\n"
        "  .venv/bin/botmeter ui              # Dagster UI: asset graph, this run, checks\n"
        "  .venv/bin/botmeter docs --serve    # dbt docs: every model and column\n"
        "analyst tables (schema marts): fct_sessions, bridge_session_conversations, "
        "dim_conversations, fct_tickets, agg_sessions_daily[_total], "
        "agg_sessions_monthly[_total], rpt_session_usage, rpt_session_explain, "
        "fct_impressions, agg_usage_daily, agg_intents_daily, agg_api_calls_daily, "
        "agg_kpis_daily/monthly"
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    _ensure_dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.call(
        [
            str(dagster),
            "dev",
            "-w",
            str(settings.PROJECT_ROOT / "workspace.yaml"),
            "-p",
            str(args.port),
        ],
        cwd=settings.PROJECT_ROOT,
    )


def cmd_docs(args: argparse.Namespace) -> int:
    from orchestration.dbt_project import dbt_executable

    env = {**os.environ, settings.WAREHOUSE_ENV: str(settings.warehouse_path(args.warehouse))}
    base = [dbt_executable(), "--quiet"]
    prof = ["--profiles-dir", str(settings.PROJECT_ROOT / "dbt_project")]
    subprocess.run(
        [*base, "docs", "generate", *prof], check=True, env=env, cwd=settings.PROJECT_ROOT
    )
    print(f"dbt docs generated in {settings.PROJECT_ROOT / 'target'}")
    if args.serve:
        return subprocess.call(
            [*base, "docs", "serve", *prof, "--port", str(args.port)],
            env=env,
            cwd=settings.PROJECT_ROOT,
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The Session Usage report from the published (read-only) warehouse."""
    from orchestration import report as rpt

    published = (
        settings.published_path(args.warehouse) if args.warehouse else settings.published_path()
    )
    if args.warehouse and not published.stem.endswith("_published"):  # the working file given
        sibling = settings.published_path(warehouse=published)
        published = sibling if sibling.exists() else published

    def split(values):
        return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]

    try:
        data = rpt.build_report(
            published,
            args.start,
            args.end,
            account=split(args.account),
            bot=split(args.bot),
            channel=split(args.channel),
            customer=split(args.customer),
            conversation=split(args.conversation),
        )
    except rpt.ReportError as exc:
        raise CliError(str(exc)) from exc
    if args.format == "html":
        from orchestration.dashboard import render_html

        text = render_html(data)
    else:
        text = {"text": rpt.to_text, "json": rpt.to_json, "csv": rpt.to_csv}[args.format](data)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.format} report to {args.out}", file=sys.stderr)
    elif args.format == "html":
        raise CliError("--format html needs --out FILE")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botmeter", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic raw event files")
    gen.add_argument("--out", required=True, help="landing folder to write events/<date>/ into")
    gen.add_argument("--start", type=_date, help="first arrival date (default: DAYS ago)")
    gen.add_argument("--days", type=int, default=30)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--scale", type=int, default=2000, help="events per day on average")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser(
        "run",
        help="land new or changed arrival folders (or --start..--end) and update every model",
    )
    run.add_argument(
        "--landing", help=f"landing folder (default ${settings.LANDING_ENV} or data/landing)"
    )
    run.add_argument(
        "--warehouse",
        help=f"DuckDB file (default ${settings.WAREHOUSE_ENV} or data/warehouse.duckdb)",
    )
    run.add_argument("--start", type=_date, help="first arrival date to land")
    run.add_argument("--end", type=_date, help="last arrival date to land")
    run.add_argument(
        "--full-refresh", action="store_true", help="rebuild everything from the raw files"
    )
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="generate demo data ending yesterday and build everything")
    demo.add_argument("--landing")
    demo.add_argument("--warehouse")
    demo.add_argument("--days", type=int, default=45)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--scale", type=int, default=3000)
    demo.set_defaults(func=cmd_demo)

    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this project")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    docs = sub.add_parser("docs", help="build the dbt docs site (and serve it with --serve)")
    docs.add_argument("--warehouse")
    docs.add_argument("--serve", action="store_true")
    docs.add_argument("--port", type=int, default=8080)
    docs.set_defaults(func=cmd_docs)

    rep = sub.add_parser("report", help="the Session Usage report (text, json, csv or html)")
    rep.add_argument(
        "--warehouse", help="published DuckDB file, or the working one (its published copy is read)"
    )
    rep.add_argument(
        "--from", dest="start", type=_date, help="first session date (default: TO minus 29 days)"
    )
    rep.add_argument(
        "--to", dest="end", type=_date, help="last session date (default: newest data day)"
    )
    for name in ("account", "bot", "channel", "customer", "conversation"):
        rep.add_argument(
            f"--{name}",
            action="append",
            metavar="VALUE",
            help=f"only sessions of this {name} (repeat or comma-separate)",
        )
    rep.add_argument("--format", choices=["text", "json", "csv", "html"], default="text")
    rep.add_argument("--out", help="write to this file instead of stdout")
    rep.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"botmeter: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The `botmeter` command: run the pipeline, look at the results, generate demo data.

Runs go through Dagster's Python API against the warehouse's own Dagster instance (by
default `.dagster-<warehouse name>/` beside the warehouse file), so every CLI run shows up in
`botmeter ui`. Every user mistake ends in one line on standard error and a non-zero exit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from botmeter import settings


class CliError(Exception):
    """A failure explained in one line; the CLI prints it and exits non-zero."""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    return settings.landing_path(args.landing), settings.warehouse_path(args.warehouse)


def cmd_run(args: argparse.Namespace) -> int:
    from botmeter.pipeline import RunError, run_pipeline

    landing, warehouse = _paths(args)
    try:
        lines = run_pipeline(
            landing, warehouse, args.start, args.end, args.full_refresh, engine=args.engine
        )
    except RunError as exc:
        raise CliError(str(exc)) from None
    for line in lines:
        print(line)
    print(f"warehouse: {warehouse}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from tools.generator import generate

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


def cmd_demo(args: argparse.Namespace) -> int:
    from botmeter.pipeline import RunError, run_pipeline
    from tools.generator import generate

    landing, warehouse = _paths(args)
    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=args.days - 1)
    summary = generate(
        landing, start=start, days=args.days, seed=args.seed, events_per_day=args.scale
    )
    print(f"generated {summary.lines} lines for {start}..{end} under {landing / 'events'}")
    try:
        lines = run_pipeline(landing, warehouse, full_refresh=True)
    except RunError as exc:
        raise CliError(str(exc)) from None
    for line in lines:
        print(line)
    published = settings.published_path(warehouse=warehouse)
    print(
        f"\nbuilt warehouse {warehouse}\n"
        f"published read-only copy for BI tools: {published}\n"
        "look at it:\n"
        "  .venv/bin/botmeter serve           # the usage app in your browser\n"
        "  .venv/bin/botmeter report          # the Session Usage report (add --format html)\n"
        "  .venv/bin/botmeter ui              # Dagster UI: asset graph, this run, checks\n"
        "  .venv/bin/botmeter docs --serve    # dbt docs: every model and column"
    )
    return 0


def _child_env(warehouse: Path) -> dict[str, str]:
    """The environment of a program botmeter starts: the warehouse and its Dagster instance,
    and this interpreter's bin folder (dbt, dagster) first on PATH, so it works without an
    activated virtual environment."""
    from botmeter.pipeline import PLANNED_EVENTS_ENV, prepare_dagster_home

    home = prepare_dagster_home(warehouse)
    bin_dir = str(Path(sys.executable).parent)
    return {
        PLANNED_EVENTS_ENV: "true",
        **os.environ,
        settings.DAGSTER_HOME_ENV: str(home),
        settings.WAREHOUSE_ENV: str(warehouse),
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
    }


def cmd_ui(args: argparse.Namespace) -> int:
    warehouse = settings.warehouse_path(args.warehouse)
    env = _child_env(warehouse)
    if args.landing:
        env[settings.LANDING_ENV] = str(settings.landing_path(args.landing))
    from orchestration.dbt import prepare_manifest

    prepare_manifest(warehouse)
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "dev",
        "-w",
        str(settings.PROJECT_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    print(f"Dagster UI for {warehouse} on http://{args.host}:{args.port}", flush=True)
    return subprocess.call(command, cwd=settings.PROJECT_ROOT, env=env)


def cmd_docs(args: argparse.Namespace) -> int:
    from orchestration.dbt import DBT_PROFILES_DIR, dbt_executable

    warehouse = settings.warehouse_path(args.warehouse)
    env = _child_env(warehouse)
    base = [dbt_executable(), "--quiet"]
    prof = ["--profiles-dir", str(DBT_PROFILES_DIR)]
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


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate every configuration file and print what botmeter will use."""
    try:
        settings.validate_configuration()
    except settings.ConfigError as exc:
        raise CliError(str(exc)) from None
    rules = settings.load_rules()
    print(
        f"rules: data from {rules.data_start_at}, sessions end after "
        f"{rules.session_timeout_minutes} min of user inactivity, unique impressions last "
        f"{rules.unique_impression_hours} h"
    )
    checks = settings.load_check_settings()
    print(f"checks: channels {', '.join(checks.channels)}")
    config = settings.load_kpi_config()
    for kpi in config.kpis:
        parts = " / ".join(part.count for _, part in kpi.parts())
        print(f"KPI {kpi.name:32} {kpi.grain:5} {parts}")
    return 0


def _output_file(out: str, warehouse: Path) -> Path:
    """Where `report --out` may write: never over a warehouse file or into a folder that does
    not exist (one line instead of a traceback, before anything is written)."""
    path = Path(out).expanduser().resolve()
    protected = {
        warehouse.resolve(),
        settings.published_path(warehouse=warehouse).resolve(),
    }
    if path in protected or path.suffix == ".duckdb" or path.name.endswith((".wal", ".lock")):
        raise CliError(f"--out {out} is a warehouse file: refusing to overwrite it")
    if path.is_dir():
        raise CliError(f"--out {out} is a directory: give a file name")
    if not path.parent.is_dir():
        raise CliError(f"--out {out}: the folder {path.parent} does not exist")
    return path


def cmd_report(args: argparse.Namespace) -> int:
    """The Session Usage report from the published (read-only) warehouse."""
    from botmeter import report as rpt

    warehouse = settings.warehouse_path(args.warehouse)
    published = settings.published_path(warehouse=warehouse)
    out = _output_file(args.out, warehouse) if args.out else None
    if args.format == "html" and out is None:
        raise CliError("--format html needs --out FILE")

    def split(values):
        return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]

    try:
        data = rpt.build_report(
            published,
            args.start,
            args.end,
            **{name: split(getattr(args, name)) for name in rpt.FILTERS},
        )
    except rpt.ReportError as exc:
        raise CliError(str(exc)) from None
    if args.format == "html":
        from botmeter.report.html import render_html

        text = render_html(data)
    else:
        from botmeter.report import formats

        text = {"text": formats.to_text, "json": formats.to_json, "csv": formats.to_csv}[
            args.format
        ](data)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {args.format} report to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The usage app, on the published (read-only) warehouse."""
    from botmeter.app import serve

    warehouse = settings.warehouse_path(args.warehouse)
    return serve(
        published=settings.published_path(warehouse=warehouse),
        host=args.host,
        port=args.port,
        account=args.account,
        tokens_file=Path(args.tokens) if args.tokens else None,
        allow_edit=args.allow_edit,
    )


def _add_paths(parser: argparse.ArgumentParser, landing: bool = True) -> None:
    parser.add_argument(
        "--warehouse",
        help=f"working DuckDB file (default ${settings.WAREHOUSE_ENV} or data/warehouse.duckdb)",
    )
    if landing:
        parser.add_argument(
            "--landing", help=f"landing folder (default ${settings.LANDING_ENV} or data/landing)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botmeter", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="land new or changed arrival folders, build what they change, publish",
    )
    _add_paths(run)
    run.add_argument("--start", type=_date, help="land again from this arrival date")
    run.add_argument("--end", type=_date, help="land again up to this arrival date")
    run.add_argument(
        "--full-refresh", action="store_true", help="land every folder again, rebuild every model"
    )
    run.add_argument(
        "--engine",
        choices=settings.ENGINES,
        help=f"build the models on this engine (default ${settings.ENGINE_ENV} or duckdb; "
        "spark: docs/spark.md)",
    )
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="generate demo data ending yesterday and build everything")
    _add_paths(demo)
    demo.add_argument("--days", type=int, default=45)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--scale", type=int, default=3000)
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser("generate", help="write synthetic raw event files")
    gen.add_argument("--out", required=True, help="landing folder to write events/<date>/ into")
    gen.add_argument("--start", type=_date, help="first arrival date (default: DAYS ago)")
    gen.add_argument("--days", type=int, default=30)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--scale", type=int, default=2000, help="events per day on average")
    gen.set_defaults(func=cmd_generate)

    rep = sub.add_parser("report", help="the Session Usage report (text, json, csv or html)")
    _add_paths(rep, landing=False)
    rep.add_argument(
        "--from", dest="start", type=_date, help="first session date (default: 30 days back)"
    )
    rep.add_argument(
        "--to", dest="end", type=_date, help="last session date (default: the last full day)"
    )
    from botmeter.report import FILTERS

    for name in FILTERS:
        rep.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            action="append",
            metavar="VALUE",
            help=f"only sessions of this {name.replace('_', ' ')} (repeat or comma-separate)",
        )
    rep.add_argument("--format", choices=["text", "json", "csv", "html"], default="text")
    rep.add_argument("--out", help="write to this file instead of stdout")
    rep.set_defaults(func=cmd_report)

    serve = sub.add_parser(
        "serve", help="the usage app in your browser, on the published read-only warehouse"
    )
    _add_paths(serve, landing=False)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)
    serve.add_argument("--account", help="show this account only (an account admin's app)")
    serve.add_argument(
        "--tokens",
        help="YAML file of access tokens, token: account (each reader sees their account only)",
    )
    serve.add_argument(
        "--allow-edit", action="store_true", help="let readers edit the KPI configuration"
    )
    serve.set_defaults(func=cmd_serve)

    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this warehouse")
    _add_paths(ui)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    docs = sub.add_parser("docs", help="build the dbt docs site (and serve it with --serve)")
    _add_paths(docs, landing=False)
    docs.add_argument("--serve", action="store_true")
    docs.add_argument("--port", type=int, default=8080)
    docs.set_defaults(func=cmd_docs)

    check = sub.add_parser("check-config", help="validate every configuration file")
    check.set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, settings.ConfigError) as exc:
        print(f"botmeter: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("botmeter: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""botmeter benchmark suite: one command, results in benchmarks/RESULTS.md.

    .venv/bin/python -m benchmarks.run --sizes 1M,10M [--with-50m] [--out benchmarks/RESULTS.md]

For each size (events, generated at a fixed seed over ``--days`` arrival days) it measures, each
step as its own child process (wall time, peak RSS, CPU seconds; see benchmarks/measure.py):

1. landing: ``land_partition`` over every arrival folder (events/s);
2. full build: ``botmeter run --full-refresh``, split into landing step, dbt execution (models,
   checks) and fixed overhead, plus the fixed start-up cost on a ~10-event landing;
3. fixed overhead: a daily run with nothing new (an empty arrival folder through the whole
   Dagster job, as the schedule runs it: landing and raw checks, models skipped) on the built
   warehouse, and the report query;
4. sessionization: the project's session models vs a bare DuckDB query vs pandas, on the same
   staged events, session counts asserted equal;
5. unique impressions: one visitor with 10,000 loads, 1M visitors with a few loads each.

Once (independent of size): the daily increment on ``--history-days`` (30 and 360) of history
at ``--increment-events-per-day`` events per day. Results are also written as JSON next to the
Markdown file. ``--quick`` (used by the smoke test) skips the start-up, increment and
no-new-data runs and shrinks impressions, so the whole command takes well under a minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchmarks import measure

ROOT = Path(__file__).resolve().parent.parent  # the project measured (see --project)
SUITE = ROOT  # where the benchmarks package lives
PY = sys.executable
BIN = Path(sys.executable).parent
START = dt.date(2024, 1, 1)

SECTIONS = (
    "Machine",
    "Landing",
    "Full build",
    "Fixed overhead",
    "Daily increment",
    "Sessionization",
    "Unique impressions",
    "Targets",
    "Profiling findings",
)


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if text[-1] in "KM" else text) * mult)


def fmt_size(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k" if n >= 1000 else str(n)


# Per-size results -> the --skip section that produces them.
SIZE_SECTIONS = {
    "landing": "landing",
    "no_new_data": "no-new-data",
    "no_new_data_cli": "no-new-data",
}


def kept_sections(previous: dict | None, skip: set[str]) -> dict:
    """The figures of an earlier run of this size (--merge) for the sections this run skips,
    so re-measuring one section of a size does not drop the others from the results."""
    return {
        key: previous[key]
        for key, section in SIZE_SECTIONS.items()
        if previous and section in skip and key in previous
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.workdir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.dagster_home = self.work / "dagster_home"
        self.dagster_home.mkdir(exist_ok=True)
        self.results: dict = {
            "machine": measure.machine_info(),
            "sizes": {},
            "increment": {},
            "startup": None,
            "impressions": None,
            "argv": sys.argv[1:],
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.dagster_home),
            "PYTHONWARNINGS": "ignore",
            # --project first: its orchestration/assets shadow the editable install.
            "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(ROOT), str(SUITE)])),
        }
        self.results["project"] = str(ROOT)

    # ---------------------------------------------------------------- helpers
    def m(self, label: str, argv: list[str], env: dict | None = None) -> measure.Measurement:
        print(f"[bench] {label} ...", flush=True)
        res = measure.run(label, argv, env=env or self.env, cwd=ROOT)
        print(
            f"[bench] {label}: {res.wall_s:.1f}s wall, {res.peak_rss_mb:.0f} MB peak RSS, "
            f"{res.tree_peak_mb:.0f} MB tree",
            flush=True,
        )
        return res

    @staticmethod
    def row(res: measure.Measurement) -> dict:
        return {
            "wall_s": res.wall_s,
            "peak_rss_mb": res.peak_rss_mb,
            "tree_peak_mb": res.tree_peak_mb,
            "cpu_s": res.cpu_s,
            "load_before": res.load_before,
        }

    def generate(self, out: Path, days: int, per_day: int) -> dict:
        marker = out / "generated.json"
        if marker.exists():
            return json.loads(marker.read_text())
        if out.exists():
            shutil.rmtree(out)
        res = self.m(
            f"generate {out.name}",
            [
                PY,
                "-m",
                "benchmarks.tasks",
                "generate",
                "--out",
                str(out),
                "--start",
                START.isoformat(),
                "--days",
                str(days),
                "--events-per-day",
                str(per_day),
                "--seed",
                str(self.args.seed),
            ],
        )
        info = {**res.json_payload(), **self.row(res)}
        marker.write_text(json.dumps(info))
        return info

    def botmeter_run(self, label: str, landing: Path, warehouse: Path, *extra: str) -> dict:
        argv = [
            str(BIN / "botmeter"),
            "run",
            "--landing",
            str(landing),
            "--warehouse",
            str(warehouse),
            *extra,
        ]
        try:
            res = self.m(label, argv)
            attempts = 1
        except RuntimeError as exc:
            # target/manifest.json is shared with every other dbt/dagster user of the checkout;
            # a concurrent `dbt parse` after a model edit can make one run fail (KeyError on a
            # node). Retry once and record it.
            print(f"[bench] {label} failed, retrying once: {str(exc).splitlines()[-1]}")
            res = self.m(label, argv)
            attempts = 2
        out = self.row(res)
        out["attempts"] = attempts
        split = measure.run(
            "split",
            [
                PY,
                "-m",
                "benchmarks.tasks",
                "split",
                "--dagster-home",
                str(self.dagster_home),
                "--target-root",
                str(ROOT / "target"),
            ],
            env=self.env,
            cwd=ROOT,
        )
        s = split.json_payload()
        out["split"] = s
        landing_s = s.get("steps", {}).get("raw__events", 0.0)
        dbt_step = sum(v for k, v in s.get("steps", {}).items() if k != "raw__events")
        dbt_exec = s.get("dbt_elapsed_s", 0.0)
        out.update(
            landing_step_s=landing_s,
            dbt_step_s=dbt_step,
            dbt_exec_s=dbt_exec,
            data_work_s=landing_s + dbt_exec,
            fixed_s=res.wall_s - landing_s - dbt_exec,
            skipped_steps=len(s.get("skipped_steps", [])),
        )
        return out

    def save(self) -> None:
        out = Path(self.args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(self.results, indent=1, default=str))
        out.write_text(render(self.results))

    # ---------------------------------------------------------------- sections
    def startup(self) -> None:
        landing = self.work / "tiny_landing"
        self.generate(landing, 1, 10)
        wh = self.work / "tiny.duckdb"
        wh.unlink(missing_ok=True)
        self.results["startup"] = self.botmeter_run(
            "startup (10-event landing)", landing, wh, "--full-refresh"
        )
        self.save()

    def size(self, n: int) -> None:
        name = fmt_size(n)
        r: dict = {"events_target": n, **kept_sections(self.results["sizes"].get(name), self.skip)}
        self.results["sizes"][name] = r
        days = self.args.days
        landing = self.work / f"landing_{name}"
        r["generate"] = self.generate(landing, days, max(1, n // days))
        # 1. landing alone (in --quick mode into the warehouse that is then built)
        wh = self.work / f"warehouse_{name}.duckdb"
        wh.unlink(missing_ok=True)
        wh_land = wh if self.args.quick else self.work / f"land_{name}.duckdb"
        if self.args.quick or "landing" not in self.skip:
            wh_land.unlink(missing_ok=True)
            res = self.m(
                f"landing {name}",
                [
                    PY,
                    "-m",
                    "benchmarks.tasks",
                    "land",
                    "--landing",
                    str(landing),
                    "--warehouse",
                    str(wh_land),
                ],
            )
            r["landing"] = {**res.json_payload(), **self.row(res)}
            if not self.args.quick:
                wh_land.unlink(missing_ok=True)
            self.save()
        # 2. full build
        target = self.work / f"dbt_target_{name}"
        shutil.rmtree(target, ignore_errors=True)
        if self.args.quick:
            # Smoke mode: no Dagster run (its fixed start-up alone can exceed the smoke test's
            # budget on a loaded machine); build the session models with plain dbt.
            res = self.m(
                f"dbt build (quick) {name}",
                [*self.dbt_argv(target), "--select", "+fct_sessions"],
                env={**self.env, "BOTMETER_WAREHOUSE": str(wh)},
            )
            r["quick_dbt_build"] = self.row(res)
        else:
            r["full_build"] = self.botmeter_run(f"full build {name}", landing, wh, "--full-refresh")
        self.save()
        # 3. report + no-new-data daily run
        # Full runs time the real command as an admin runs it (it reads the published copy);
        # --quick builds no published copy, so it times the same query without the CLI.
        if self.args.quick:
            argv = [PY, "-m", "benchmarks.tasks", "report-proxy", "--warehouse", str(wh)]
        else:
            argv = [
                str(BIN / "botmeter"),
                "report",
                "--warehouse",
                str(wh),
                "--format",
                "json",
                "--out",
                os.devnull,
            ]
        res = self.m(f"report {name}", argv)
        r["report"] = {**res.json_payload(), **self.row(res)}
        if not self.args.quick and "no-new-data" not in self.skip:
            empty_day = START + dt.timedelta(days=days)
            (landing / "events" / empty_day.isoformat()).mkdir(parents=True, exist_ok=True)
            r["no_new_data"] = self.botmeter_run(
                f"daily run, nothing new {name}",
                landing,
                wh,
                "--start",
                empty_day.isoformat(),
                "--end",
                empty_day.isoformat(),
            )
            shutil.rmtree(landing / "events" / empty_day.isoformat())
            # The same day as the scheduler sees it: `botmeter run` with no range compares
            # folder fingerprints with raw.load_audit and starts no Dagster run at all.
            res = self.m(
                f"botmeter run, nothing to land {name}",
                [str(BIN / "botmeter"), "run", "--landing", str(landing), "--warehouse", str(wh)],
            )
            r["no_new_data_cli"] = self.row(res)
        self.save()
        # 4. sessionization
        r["sessionization"] = self.sessionization(wh, name)
        self.save()
        if not self.args.keep:
            wh.unlink(missing_ok=True)

    def dbt_argv(self, target: Path) -> list[str]:
        """`dbt run --full-refresh` with a private target/log path (target/ is shared)."""
        return [
            str(BIN / "dbt"),
            "run",
            "--full-refresh",
            "--project-dir",
            str(ROOT),
            "--profiles-dir",
            str(ROOT / "dbt_project"),
            "--target-path",
            str(target),
            "--log-path",
            str(self.work / "dbt_logs"),
        ]

    def sessionization(self, wh: Path, name: str) -> dict:
        out: dict = {}
        target = self.work / f"dbt_target_{name}"
        env = {**self.env, "BOTMETER_WAREHOUSE": str(wh)}
        models = [
            "int_session_keys_changed",
            "int_sessions",
            "int_session_ranges_changed",
            "int_events_sessionized",
            "fct_sessions",
        ]
        if self.args.quick:  # reuse the quick build's full-refresh timings of these models
            res = measure.Measurement("reused", [], 0.0, 0.0, 0.0, 0)
        else:
            shutil.rmtree(target, ignore_errors=True)
            res = self.m(
                f"session models {name}", [*self.dbt_argv(target), "--select", *models], env=env
            )
        rr = json.loads((target / "run_results.json").read_text())
        times = {
            r["unique_id"].split(".")[-1]: r["execution_time"]
            for r in rr["results"]
            if r["unique_id"].split(".")[-1] in models
        }
        out["models"] = {
            **self.row(res),
            "model_s": times,
            "dbt_elapsed_s": rr["elapsed_time"],
            "sessions_s": times["int_session_keys_changed"] + times["int_sessions"],
            "chain_s": sum(times.values()),
        }
        res = self.m(
            f"bare query {name}",
            [PY, "-m", "benchmarks.sessionization", "bare", "--warehouse", str(wh)],
        )
        out["bare"] = {**res.json_payload(), **self.row(res)}
        res = self.m(
            f"pandas {name}",
            [PY, "-m", "benchmarks.sessionization", "pandas", "--warehouse", str(wh)],
        )
        out["pandas"] = {**res.json_payload(), **self.row(res)}
        counts = measure.run(
            "counts",
            [PY, "-m", "benchmarks.sessionization", "counts", "--warehouse", str(wh)],
            env=env,
            cwd=ROOT,
        ).json_payload()
        out["counts"] = counts
        c = {
            "models (int_sessions)": counts["int_sessions"],
            "models (fct_sessions)": counts["fct_sessions"],
            "bare": out["bare"]["sessions"],
            "pandas": out["pandas"]["sessions"],
        }
        out["counts_equal"] = len(set(c.values())) == 1
        if not out["counts_equal"]:
            self.save()
            raise AssertionError(f"session counts differ at {name}: {c}")
        # Profile of the model's compiled SQL (its select), kept for RESULTS.md.
        compiled = next(target.glob("compiled/**/int_sessions.sql"), None)
        if compiled and not self.args.quick:
            out["explain_int_sessions"] = explain(wh, compiled.read_text())
        return out

    def increment(self) -> None:
        per_day = self.args.increment_events_per_day
        for hist in [int(x) for x in self.args.history_days.split(",")]:
            landing = self.work / f"history_{hist}d_{per_day}"
            self.generate(landing, hist + 1, per_day)
            wh = self.work / f"history_{hist}d.duckdb"
            wh.unlink(missing_ok=True)
            last = START + dt.timedelta(days=hist)
            build = self.botmeter_run(
                f"history build {hist}d",
                landing,
                wh,
                "--full-refresh",
                "--end",
                (last - dt.timedelta(days=1)).isoformat(),
            )
            # Re-landing the same day is idempotent, so the increment is measured several
            # times: its data work is a few seconds, where one noisy run swings the ratio
            # between histories by 30%. The run with the median data work is reported. A
            # re-landed day brings no new raw rows, so the models would be skipped: each
            # repeat first forgets the last build, and a skipped increment is an error.
            runs = []
            for k in range(self.args.increment_repeats):
                if k:
                    self.forget_build(wh)
                run = self.botmeter_run(
                    f"increment on {hist}d ({k + 1}/{self.args.increment_repeats})",
                    landing,
                    wh,
                    "--start",
                    last.isoformat(),
                    "--end",
                    last.isoformat(),
                )
                if run["skipped_steps"]:
                    raise RuntimeError(f"increment on {hist}d skipped {run['skipped_steps']} steps")
                runs.append(run)
            inc = sorted(runs, key=lambda run: run["data_work_s"])[(len(runs) - 1) // 2]
            self.results["increment"][f"{hist}d"] = {
                "history_build": build,
                "increment": inc,
                "data_work_runs_s": [run["data_work_s"] for run in runs],
                "events_per_day": per_day,
            }
            if not self.args.keep:
                wh.unlink(missing_ok=True)
            self.save()

    def forget_build(self, warehouse: Path) -> None:
        argv = [PY, "-m", "benchmarks.tasks", "forget-build", "--warehouse", str(warehouse)]
        measure.run("forget build", argv, env=self.env, cwd=ROOT)

    def impressions(self) -> None:
        visitors = 20_000 if self.args.quick else 1_000_000
        res = self.m(
            "impressions",
            [
                PY,
                "-m",
                "benchmarks.impressions",
                "--visitors",
                str(visitors),
                "--heavy-loads",
                "10000",
            ],
        )
        model = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "models").rglob("*impression*"))
        self.results["impressions"] = {
            **res.json_payload(),
            **self.row(res),
            "visitors": visitors,
            "project_models": model,
        }
        self.save()


def explain(wh: Path, compiled_sql: str) -> str:
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    try:
        rows = con.execute("explain analyze " + compiled_sql).fetchall()
        return rows[0][1]
    except Exception as exc:  # noqa: BLE001 - profiling is best effort
        return f"explain failed: {exc}"
    finally:
        con.close()


# -------------------------------------------------------------------- rendering
def _f(x, nd=1) -> str:
    return "n/a" if x is None else f"{x:,.{nd}f}"


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**NOT met**")


def step_groups(steps: dict[str, float]) -> tuple[float, int, float]:
    """(botmeter check steps' seconds, their number, serving steps' seconds) of one run.

    Step keys: `raw__events` (landing), `botmeter_dbt_models` (dbt), `serving__*` (publish);
    every other step is one of botmeter's asset checks."""
    checks = {
        k: v
        for k, v in steps.items()
        if k not in ("raw__events", "botmeter_dbt_models") and not k.startswith("serving__")
    }
    serving = sum(v for k, v in steps.items() if k.startswith("serving__"))
    return sum(checks.values()), len(checks), serving


def render(r: dict) -> str:
    m = r["machine"]
    cmds = " ".join(r["argv"]).split(" + ")
    cmd = " then ".join(f"`.venv/bin/python -m benchmarks.run {c.strip()}`" for c in cmds)
    out = [
        "# botmeter benchmark results",
        "",
        f"Generated by {cmd} "
        f"(started {r['started']}) on the project at `{r.get('project')}`. Raw figures: the "
        "`.json` file next to this one.",
        "",
        "## Machine",
        "",
        f"- {m['cpu_cores']} cores ({m['cpu_model']}), {m['memory_gb']} GB RAM, {m['os']}",
        f"- Python {m['python']}, DuckDB {m['duckdb']}, pandas {m['pandas']}, numpy "
        f"{m['numpy']}, pyarrow {m['pyarrow']}, dagster {m['dagster']}, dagster-dbt "
        f"{m['dagster-dbt']}, dbt-core {m['dbt-core']}, dbt-duckdb {m['dbt-duckdb']}",
        f"- Memory: {'GNU `/usr/bin/time -v`' if m['gnu_time'] else 'getrusage'} max RSS "
        "(largest single process), and 'tree' = sampled sum of the process tree's RSS "
        "(botmeter + dbt). `load` = 1-min load average when the step started "
        "(the machine is shared: load above 2 means other work competed for the 2 cores).",
        "",
    ]
    sizes = r["sizes"]
    out += [
        "## Landing",
        "",
        "lines/s = lines / in-process landing seconds (wall); lines per "
        "CPU-s = lines / the process's CPU seconds (what an idle machine would approach "
        "single-threaded).",
        "",
        "| size | events | lines | wall s | in-process land s | "
        "lines/s (in-process) | peak RSS MB | load | CPU s | lines per CPU-s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in sizes.items():
        la = s.get("landing")
        if la:
            out.append(
                f"| {name} | {s['generate'].get('events', 0):,} | {la['lines']:,} | "
                f"{_f(la['wall_s'])} | {_f(la['land_s'])} | "
                f"{_f(la['lines'] / max(la['land_s'], 1e-9), 0)} | "
                f"{_f(la['peak_rss_mb'], 0)} | {_f(la['load_before'])} | "
                f"{_f(la['cpu_s'])} | {_f(la['lines'] / max(la['cpu_s'], 1e-9), 0)} |"
            )
        elif s.get("full_build"):
            fb, lines = s["full_build"], s["generate"].get("lines", 0)
            out.append(
                f"| {name} (landing step of the full build) | "
                f"{s['generate'].get('events', 0):,} | {lines:,} | | "
                f"{_f(fb['landing_step_s'])} | "
                f"{_f(lines / max(fb['landing_step_s'], 1e-9), 0)} | | | | |"
            )
    out += [
        "",
        "## Full build",
        "",
        "`botmeter run --full-refresh` as one process. landing = Dagster step `raw__events`; "
        "dbt exec = dbt's own elapsed time for models + dbt tests (run 3 at a time, see "
        "dbt_project/profiles.yml); models/tests sum = sum of per-node times; botmeter "
        "checks = the Dagster steps of botmeter's own "
        "asset checks (great-expectations suites, reconciliations, freshness); publish = the "
        "serving steps (published copy, dashboard); fixed = wall - all of these (interpreter, "
        "Dagster, dbt parse and start-up, dagster-dbt event handling).",
        "",
        "| run | wall s | landing s | dbt exec s | models sum s | dbt tests sum s (n) | "
        "botmeter checks s (n) | publish s | fixed s | peak RSS MB | tree MB | CPU s | load |",
        "|---" * 13 + "|",
    ]

    def build_row(label: str, b: dict | None) -> str:
        if not b:
            return f"| {label} | not run | | | | | | | | | | | |"
        sp = b.get("split", {})
        checks, n_checks, serving = step_groups(sp.get("steps", {}))
        fixed = b["wall_s"] - b["landing_step_s"] - b["dbt_exec_s"] - checks - serving
        return (
            f"| {label} | {_f(b['wall_s'])} | {_f(b['landing_step_s'])} | "
            f"{_f(b['dbt_exec_s'])} | {_f(sp.get('dbt_models_sum_s'))} | "
            f"{_f(sp.get('dbt_tests_sum_s'))} ({sp.get('dbt_tests', '?')}) | "
            f"{_f(checks)} ({n_checks}) | {_f(serving)} | "
            f"{_f(fixed)} | {_f(b['peak_rss_mb'], 0)} | {_f(b['tree_peak_mb'], 0)} | "
            f"{_f(b['cpu_s'])} | {_f(b['load_before'])} |"
        )

    out.append(build_row("start-up (10-event landing)", r.get("startup")))
    for name, s in sizes.items():
        if s.get("quick_dbt_build"):
            q = s["quick_dbt_build"]
            out.append(
                f"| {name}: --quick, plain `dbt run` instead of botmeter | "
                f"{_f(q['wall_s'])} | | | | | | {_f(q['peak_rss_mb'], 0)} | "
                f"{_f(q['tree_peak_mb'], 0)} | {_f(q['cpu_s'])} | {_f(q['load_before'])} |"
            )
        else:
            out.append(build_row(f"full build {name}", s.get("full_build")))
    for name, s in sizes.items():
        fb = s.get("full_build") or {}
        models = fb.get("split", {}).get("dbt_models", {})
        if models:
            top = sorted(models.items(), key=lambda kv: -kv[1])[:6]
            out.append("")
            out.append(f"Slowest models at {name}: " + ", ".join(f"`{k}` {v:.1f}s" for k, v in top))
    out += [
        "",
        "## Fixed overhead",
        "",
        "| what | wall s | data work s | fixed s | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    st = r.get("startup")
    if st:
        out.append(
            f"| full build of a 10-event landing | {_f(st['wall_s'])} | "
            f"{_f(st['data_work_s'])} | {_f(st['fixed_s'])} | {_f(st['peak_rss_mb'], 0)} |"
        )
    for name, s in sizes.items():
        nn = s.get("no_new_data")
        if nn:
            skipped = f"; {nn['skipped_steps']} steps skipped" if nn.get("skipped_steps") else ""
            out.append(
                f"| daily run, nothing new, on {name} warehouse (Dagster job{skipped}) | "
                f"{_f(nn['wall_s'])} | "
                f"{_f(nn['data_work_s'])} | {_f(nn['fixed_s'])} | "
                f"{_f(nn['peak_rss_mb'], 0)} |"
            )
        cli = s.get("no_new_data_cli")
        if cli:
            out.append(
                f"| `botmeter run` with nothing to land, on {name} warehouse (no Dagster run) | "
                f"{_f(cli['wall_s'])} | 0 | {_f(cli['wall_s'])} | {_f(cli['peak_rss_mb'], 0)} |"
            )
        rp = s.get("report")
        if rp:
            out.append(
                f"| `botmeter report` on {name} warehouse | "
                f"{_f(rp['wall_s'], 2)} | {_f(rp.get('query_s'), 2)} | | "
                f"{_f(rp['peak_rss_mb'], 0)} |"
            )
    out += [
        "",
        "The report figure is the whole `botmeter report --format json` process (Python "
        "start-up included) reading the published copy of the warehouse.",
        "",
    ]
    out += ["## Daily increment", ""]
    inc = r.get("increment") or {}
    if inc:
        per_day = next(iter(inc.values()))["events_per_day"]
        out += [
            f"One new arrival day (with its late events) on top of N days of history, "
            f"generated at {per_day:,} events/day (small so that 360 days fit the time "
            "budget). data work = landing step + dbt exec. The increment is run several times "
            "(the same day re-landed, after forgetting the last build so the models are not "
            "skipped); the row is the run with the median data work, and the last column lists "
            "every run's.",
            "",
            "| history | history build wall s | increment wall s | landing s | dbt exec s "
            "| data work s | fixed s | peak RSS MB | data work of each run s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for h, v in inc.items():
            i = v["increment"]
            each = ", ".join(_f(x, 2) for x in v.get("data_work_runs_s", [i["data_work_s"]]))
            out.append(
                f"| {h} | {_f(v['history_build']['wall_s'])} | {_f(i['wall_s'])} | "
                f"{_f(i['landing_step_s'])} | {_f(i['dbt_exec_s'])} | "
                f"{_f(i['data_work_s'])} | {_f(i['fixed_s'])} | {_f(i['peak_rss_mb'], 0)} | "
                f"{each} |"
            )
        for h, v in inc.items():
            models = v["increment"].get("split", {}).get("dbt_models", {})
            if models:
                top = sorted(models.items(), key=lambda kv: -kv[1])[:6]
                out.append("")
                out.append(
                    f"Slowest models in the increment on {h}: "
                    + ", ".join(f"`{k}` {t:.2f}s" for k, t in top)
                )
    else:
        out.append("Not run (`--quick`).")
    out += [
        "",
        "## Sessionization",
        "",
        "Same staged events (`staging.stg_botmeter__events`, user activity only). models = "
        "dbt execution time of `int_session_keys_changed` + `int_sessions` (full refresh; "
        "the whole chain to `fct_sessions` in brackets); bare = one DuckDB statement "
        "(LAG + running SUM, one row per session materialized); pandas = read + sort + "
        "groupby/diff/cumsum + per-session aggregate (compute only in brackets).",
        "",
        "| size | user events | sessions | counts equal | models s | bare s | pandas s | "
        "models / bare | pandas / models | dbt process wall s | pandas peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in sizes.items():
        se = s.get("sessionization")
        if not se:
            continue
        mo, ba, pa = se["models"], se["bare"], se["pandas"]
        out.append(
            f"| {name} | {ba['user_events']:,} | {ba['sessions']:,} | {se['counts_equal']} | "
            f"{_f(mo['sessions_s'], 2)} ({_f(mo['chain_s'], 2)}) | {_f(ba['query_s'], 2)} | "
            f"{_f(pa['total_s'], 2)} ({_f(pa['compute_s'], 2)}) | "
            f"{_f(mo['sessions_s'] / max(ba['query_s'], 1e-9), 2)} | "
            f"{_f(pa['total_s'] / max(mo['sessions_s'], 1e-9), 2)} | {_f(mo['wall_s'])} | "
            f"{_f(pa['peak_rss_mb'], 0)} |"
        )
    out += ["", "## Unique impressions", ""]
    im = r.get("impressions")
    if im:
        out += [
            "Reference DuckDB queries on synthetic page loads (see benchmarks/impressions.py): "
            "'gap' = unique when no load of the visitor in the previous 24 h; 'anchored' = "
            "unique when 24 h or more after the visitor's last unique impression (recursive "
            "CTE, depth = unique impressions of the busiest visitor).",
            "",
            "| shape | loads | gap s | gap unique | anchored s | anchored unique |",
            "|---|---|---|---|---|---|",
            f"| 1 visitor, {im['heavy_rows']:,} loads over 30 days | {im['heavy_rows']:,} | "
            f"{_f(im['heavy_gap_s'], 3)} | {im['heavy_gap_unique']:,} | "
            f"{_f(im['heavy_anchored_s'], 3)} | {im['heavy_anchored_unique']:,} |",
            f"| {im['visitors']:,} visitors, 1-5 loads over 72 h | {im['many_rows']:,} | "
            f"{_f(im['many_gap_s'], 3)} | {im['many_gap_unique']:,} | "
            f"{_f(im['many_anchored_s'], 3)} | {im['many_anchored_unique']:,} |",
            "",
            f"Process: {_f(im['wall_s'])} s wall, {_f(im['peak_rss_mb'], 0)} MB peak RSS. "
            f"Project impression models present: {im['project_models'] or 'none'}.",
        ]
    out += ["", "## Targets", "", "| target | figures | verdict |", "|---|---|---|"]
    out += targets(r)
    out += ["", "## Profiling findings", ""]
    notes = Path(__file__).with_name("FINDINGS.md")
    out.append(notes.read_text().strip() if notes.exists() else "No findings recorded.")
    for name, s in sizes.items():
        ex = (s.get("sessionization") or {}).get("explain_int_sessions")
        if ex:
            out += [
                "",
                f"<details><summary>EXPLAIN ANALYZE of compiled int_sessions at {name}</summary>",
                "",
                "```",
                ex.strip(),
                "```",
                "</details>",
            ]
    return "\n".join(out) + "\n"


def targets(r: dict) -> list[str]:
    rows = []
    sizes = r["sizes"]
    big = sizes.get("10M") or (list(sizes.values())[-1] if sizes else None)
    big_name = "10M" if "10M" in sizes else (list(sizes)[-1] if sizes else "-")
    se = (big or {}).get("sessionization")
    if se:
        ratio = se["models"]["sessions_s"] / max(se["bare"]["query_s"], 1e-9)
        speed = se["pandas"]["total_s"] / max(se["models"]["sessions_s"], 1e-9)
        note = "" if big_name == "10M" else f" (measured at {big_name}, target is at 10M)"
        rows.append(
            f"| session models <= 2x bare query | {ratio:.2f}x{note} | {verdict(ratio <= 2)} |"
        )
        rows.append(
            f"| session models >= 10x faster than pandas | {speed:.2f}x{note} | "
            f"{verdict(speed >= 10)} |"
        )
    inc = r.get("increment") or {}
    if "30d" in inc and "360d" in inc:
        a, b = inc["30d"]["increment"]["data_work_s"], inc["360d"]["increment"]["data_work_s"]
        rows.append(
            f"| increment data work on 360d within 25% of 30d | {b:.2f}s vs {a:.2f}s "
            f"({(b / max(a, 1e-9) - 1) * 100:+.0f}%; median runs of "
            f"{len(inc['360d'].get('data_work_runs_s', [b]))}) | {verdict(b <= 1.25 * a)} |"
        )
    else:
        rows.append("| increment data work on 360d within 25% of 30d | - | not measured |")
    fb = (sizes.get("10M") or {}).get("full_build")
    if fb:
        rows.append(
            f"| 10M full build < 180 s wall | {fb['wall_s']:.0f}s | {verdict(fb['wall_s'] < 180)} |"
        )
        peak = max(fb["peak_rss_mb"], fb["tree_peak_mb"])
        rows.append(
            f"| 10M full build peak memory < 4 GB | {peak:,.0f} MB | {verdict(peak < 4096)} |"
        )
    else:
        one = sizes.get("1M", {}).get("full_build")
        fig = f"not run at 10M; 1M took {one['wall_s']:.0f}s" if one else "not run"
        rows.append(f"| 10M full build < 180 s wall, < 4 GB | {fig} | not measured |")
    f50 = (sizes.get("50M") or {}).get("full_build")
    # $BOTMETER_MEMORY_LIMIT is each process's budget: dbt's DuckDB limit, and twice the
    # limit of botmeter's own connections (landing, checks, publish).
    from orchestration.resources import memory_limit

    limit = memory_limit()
    fig50 = f"{f50['wall_s']:.0f}s with memory_limit {limit}" if f50 else "not run"
    rows.append(
        f"| 50M completes with memory_limit <= 4 GB | {fig50} | "
        f"{verdict(True) if f50 else 'not measured'} |"
    )
    nn = [(n, s["no_new_data"]) for n, s in sizes.items() if s.get("no_new_data")]
    for n, v in nn:
        rows.append(
            f"| daily run with nothing new < 30 s ({n} warehouse; an empty arrival day through "
            f"the Dagster job) | {v['wall_s']:.1f}s | "
            f"{verdict(v['wall_s'] < 30)} |"
        )
    for n, v in [(n, s["no_new_data_cli"]) for n, s in sizes.items() if s.get("no_new_data_cli")]:
        rows.append(
            f"| ... the same with `botmeter run` and no range ({n}; no folder changed, so no "
            f"Dagster run) | {v['wall_s']:.1f}s | {verdict(v['wall_s'] < 30)} |"
        )
    if not nn:
        rows.append("| daily run with nothing new < 30 s | - | not measured |")
    for n, s in sizes.items():
        rp = s.get("report")
        if rp:
            rows.append(
                f"| report answers < 2 s ({n} warehouse, `botmeter report`) | "
                f"{rp['wall_s']:.2f}s | {verdict(rp['wall_s'] < 2)} |"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    global ROOT
    p = argparse.ArgumentParser(
        description="botmeter benchmark suite",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    p.add_argument("--sizes", default="1M", help="comma-separated event counts, e.g. 1M,10M")
    p.add_argument("--with-50m", action="store_true", help="also run 50M events")
    p.add_argument("--out", default=str(SUITE / "benchmarks" / "RESULTS.md"))
    p.add_argument(
        "--workdir",
        default="/tmp/botmeter-bench",
        help="generated landings and warehouses (reused across runs)",
    )
    p.add_argument("--days", type=int, default=30, help="arrival days per size")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--history-days", default="30,360")
    p.add_argument("--increment-events-per-day", type=int, default=3000)
    p.add_argument(
        "--increment-repeats",
        type=int,
        default=3,
        help="times each daily increment is run (the median run is reported)",
    )
    p.add_argument(
        "--skip",
        default="",
        help="comma list of: startup,landing,no-new-data,increment,impressions "
        "(landing = the separate landing-only step; the full build still lands)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="merge into the existing --out .json instead of starting afresh "
        "(e.g. add a 10M size to an earlier 1M run)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: skip start-up/increment/no-new-data runs, small impressions",
    )
    p.add_argument("--keep", action="store_true", help="keep warehouses in --workdir")
    p.add_argument(
        "--project",
        help="measure a copy of the project at this path (e.g. a "
        "snapshot taken while others edit the checkout); default: this checkout",
    )
    a = p.parse_args(argv)
    if a.project:
        ROOT = Path(a.project).resolve()
    skip = set(filter(None, a.skip.split(",")))
    if a.quick:
        skip |= {"startup", "increment"}
    bench = Bench(a)
    bench.skip = skip
    prev = Path(a.out).with_suffix(".json")
    if a.merge and prev.exists():
        old = json.loads(prev.read_text())
        for key in ("startup", "impressions", "increment"):
            if old.get(key) and key in skip:
                bench.results[key] = old[key]
        bench.results["sizes"] = old.get("sizes", {})
        bench.results["argv"] = old.get("argv", []) + ["+"] + sys.argv[1:]
    sizes = [parse_size(s) for s in a.sizes.split(",") if s.strip()]
    if a.with_50m:
        sizes.append(50_000_000)
    t0 = time.perf_counter()
    if "startup" not in skip:
        bench.startup()
    for n in sizes:
        bench.size(n)
    if "impressions" not in skip:
        bench.impressions()
    if "increment" not in skip:
        bench.increment()
    bench.results["total_s"] = time.perf_counter() - t0
    bench.save()
    print(f"[bench] wrote {a.out} in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

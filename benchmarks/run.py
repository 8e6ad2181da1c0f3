"""botmeter's benchmark: the documented commands, measured as whole processes, against targets.

``python -m benchmarks.run --sizes 1M,10M`` writes benchmarks/RESULTS.md and RESULTS.json.
Every figure comes from a public command (``botmeter generate``, ``botmeter run``, the core
jobs of benchmarks/core_job.py) run as its own child process (benchmarks/measure.py).
Benchmarks are not tests: tests/test_benchmarks_smoke.py runs a tiny size and checks the
results file's shape, never a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks import measure

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BOTMETER = str(Path(PY).with_name("botmeter"))
DAYS = 30
FIRST_DAY = dt.date(2024, 3, 1)
SECTIONS = ("end-to-end", "daily", "app", "startup", "impressions", "spark")
# Targets (issue 18): botmeter's full build against the bare DuckDB core job, by size.
RATIO_TARGETS = {1_000_000: 5.0, 10_000_000: 2.5}
FULL_BUILD_10M_S = 180.0
MEMORY_MB = 4096.0
NEW_DAY_S = 15.0
EMPTY_DAY_S = 8.0
FIRST_RENDER_S = 1.0  # issue 21: the usage app on the 10M warehouse
FILTER_P95_S = 0.3


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def fmt_size(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k" if n >= 1000 else str(n)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.workdir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        # No settings leak in from the caller's shell: every path is given on the command line.
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BOTMETER_", "DAGSTER_"))
        }
        self.results: dict = {
            "machine": measure.machine_info(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "argv": sys.argv[1:],
            "sizes": {},
        }

    def measure(self, label: str, argv: list[str]) -> measure.Measurement:
        print(f"[bench] {label} ...", flush=True)
        res = measure.run(label, argv, env=self.env, cwd=self.work)
        print(f"[bench] {label}: {res.wall_s:.1f} s, {res.tree_peak_mb:.0f} MB (tree)", flush=True)
        return res

    @staticmethod
    def figures(res: measure.Measurement) -> dict:
        return {
            "wall_s": round(res.wall_s, 2),
            "cpu_s": round(res.cpu_s, 2),
            "peak_rss_mb": round(res.peak_rss_mb),
            "tree_peak_mb": round(res.tree_peak_mb),
            "load_before": round(res.load_before, 2),
        }

    def landing(self, events: int, days: int) -> Path:
        """A generated landing of `events` over `days` arrival days (kept between runs)."""
        folder = self.work / f"landing-{fmt_size(events)}-{days}d"
        if not (folder / "events").is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            self.generate(folder, FIRST_DAY, days, max(events // days, 1))
        return folder

    def generate(self, out: Path, start: dt.date, days: int, per_day: int) -> None:
        argv = [BOTMETER, "generate", "--out", str(out), "--start", start.isoformat()]
        argv += ["--days", str(days), "--scale", str(per_day), "--seed", str(self.args.seed)]
        self.measure(f"generate {out.name}", argv)

    def botmeter_run(
        self, label: str, landing: Path, warehouse: Path, engine: str = "duckdb"
    ) -> dict:
        argv = [BOTMETER, "run", "--warehouse", str(warehouse), "--landing", str(landing)]
        argv += ["--engine", engine]
        return self.figures(self.measure(label, argv))

    def core_job(self, impl: str, landing: Path) -> dict:
        argv = [PY, "-m", "benchmarks.core_job", impl, "--landing", str(landing / "events")]
        res = self.measure(f"core job ({impl})", argv)
        return {**self.figures(res), **res.json_payload()}

    # ------------------------------------------------------------------ sections
    def end_to_end(self, size: int, days: int) -> tuple[dict, Path, Path]:
        """botmeter's full build against the bare DuckDB and pandas core jobs, same landing."""
        landing = self.landing(size, days)
        run_dir = self.work / f"run-{fmt_size(size)}"
        shutil.rmtree(run_dir, ignore_errors=True)
        # The build reads the landing from its own folder: the daily section adds days to it.
        shutil.copytree(landing, run_dir / "landing")
        warehouse = run_dir / "warehouse.duckdb"
        out = {"events": size, "days": days}
        out["botmeter"] = self.botmeter_run("botmeter run (full build)", run_dir / "landing",
                                            warehouse)  # fmt: skip
        out["botmeter"]["sessions"] = self.sessions(warehouse)
        out["duckdb"] = self.core_job("duckdb", landing)
        if not self.args.skip_pandas:
            out["pandas"] = self.core_job("pandas", landing)
        counts = {k: out[k]["sessions"] for k in COUNTED if k in out}
        out["sessions_equal"] = len(set(counts.values())) == 1
        if not out["sessions_equal"]:
            raise SystemExit(f"session counts differ: {counts}")
        out["ratio_to_duckdb"] = round(out["botmeter"]["wall_s"] / out["duckdb"]["wall_s"], 2)
        return out, run_dir, warehouse

    def daily(self, run_dir: Path, warehouse: Path, days: int, size: int) -> dict:
        """What the daily schedule does on top of a built warehouse: one new arrival day, an
        empty arrival day, and a run with nothing new at all."""
        landing = run_dir / "landing"
        new_day = FIRST_DAY + dt.timedelta(days=days)
        extra = self.work / f"new-day-{fmt_size(size)}"
        if not (extra / "events" / new_day.isoformat()).is_dir():
            shutil.rmtree(extra, ignore_errors=True)
            self.generate(extra, new_day, 1, max(size // days, 1))
        shutil.copytree(
            extra / "events" / new_day.isoformat(), landing / "events" / new_day.isoformat()
        )
        out = {"new_day": self.botmeter_run("botmeter run (one new day)", landing, warehouse)}
        (landing / "events" / (new_day + dt.timedelta(days=1)).isoformat()).mkdir()
        out["empty_day"] = self.botmeter_run("botmeter run (empty day)", landing, warehouse)
        out["nothing_new"] = self.botmeter_run("botmeter run (nothing new)", landing, warehouse)
        return out

    def app(self, warehouse: Path) -> dict:
        """The usage app on the built warehouse: first render of each page, then filter
        changes by 10 concurrent users (benchmarks/app_load.py)."""
        argv = [PY, "-m", "benchmarks.app_load", "--warehouse", str(warehouse)]
        res = self.measure("usage app (first render, 10 users)", argv)
        return {**self.figures(res), **res.json_payload()}

    def startup(self) -> dict:
        """The fixed cost: a full build of a landing with a handful of events."""
        landing = self.landing(20, 1)
        run_dir = self.work / "run-startup"
        shutil.rmtree(run_dir, ignore_errors=True)
        return self.botmeter_run("botmeter run (20 events)", landing, run_dir / "warehouse.duckdb")

    def spark(self, size: int, days: int) -> dict:
        """The same full build with the models on local Spark (local[2], docs/spark.md), and
        the fixed cost of a Spark build of a 20-event landing."""
        out = {}
        for label, landing in (("20 events", self.landing(20, 1)), (fmt_size(size), None)):
            landing = landing or self.landing(size, days)
            run_dir = self.work / f"run-spark-{label.replace(' ', '-')}"
            shutil.rmtree(run_dir, ignore_errors=True)
            warehouse = run_dir / "warehouse.duckdb"
            key = "startup" if landing.name.startswith("landing-20-") else "full_build"
            out[key] = self.botmeter_run(f"botmeter run --engine spark ({label})", landing,
                                         warehouse, engine="spark")  # fmt: skip
            out[key]["sessions"] = self.sessions(warehouse)
            if not self.args.keep:
                shutil.rmtree(run_dir, ignore_errors=True)
        return out

    def impressions(self) -> dict:
        argv = [PY, "-m", "benchmarks.impressions"]
        if self.args.quick:
            argv += ["--visitors", "10000", "--heavy-loads", "10000"]
        res = self.measure("unique impressions", argv)
        return {**self.figures(res), **res.json_payload()}

    @staticmethod
    def sessions(warehouse: Path) -> int:
        import duckdb

        published = warehouse.with_name(f"{warehouse.stem}_published.duckdb")
        with duckdb.connect(str(published), read_only=True) as con:
            return int(con.execute("select count(*) from marts.fct_sessions").fetchone()[0])

    def run(self) -> dict:
        skip = set(self.args.skip)
        for size in self.args.sizes:
            result: dict = {}
            if "end-to-end" not in skip:
                result["end_to_end"], run_dir, warehouse = self.end_to_end(size, self.args.days)
                if "daily" not in skip:
                    result["daily"] = self.daily(run_dir, warehouse, self.args.days, size)
                if "app" not in skip:
                    result["app"] = self.app(warehouse)
                if not self.args.keep:
                    shutil.rmtree(run_dir, ignore_errors=True)
            name = fmt_size(size)
            result = merged(self.results["sizes"].get(name, {}), result)
            if "spark" not in skip:
                result["spark"] = merged(result.get("spark", {}), self.spark(size, self.args.days))
                counts = {
                    "duckdb": result.get("end_to_end", {}).get("botmeter", {}).get("sessions"),
                    "spark": result["spark"]["full_build"]["sessions"],
                }
                if counts["duckdb"] is not None and counts["duckdb"] != counts["spark"]:
                    raise SystemExit(f"session counts differ: {counts}")
            self.results["sizes"][name] = result
        if "startup" not in skip:
            self.results["startup"] = self.startup()
        if "impressions" not in skip:
            self.results["impressions"] = self.impressions()
        return self.results


def merged(kept: dict, new: dict) -> dict:
    """`new` over `kept`, section by section: a run that measured some commands of a section
    (say, no pandas) keeps the others' earlier figures."""
    out = dict(kept)
    for key, value in new.items():
        earlier = kept.get(key)
        both = isinstance(value, dict) and isinstance(earlier, dict)
        out[key] = {**earlier, **value} if both else value
    return out


# The implementations whose session counts the end-to-end section compares.
COUNTED = {"botmeter": "botmeter", "duckdb": "DuckDB", "pandas": "pandas"}


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else "**met**" if ok else "**NOT met**"


def targets(results: dict) -> list[str]:
    rows = ["| target | figures | verdict |", "|---|---|---|"]
    for name, size in results["sizes"].items():
        e2e, daily = size.get("end_to_end"), size.get("daily")
        if e2e:
            events, wall = e2e["events"], e2e["botmeter"]["wall_s"]
            limit = RATIO_TARGETS.get(events)
            ratio = e2e["ratio_to_duckdb"]
            if limit:  # sizes without a target have their figures in the end-to-end table
                rows.append(
                    f"| {name}: full build within {limit}x of the bare DuckDB core job | "
                    f"{wall:.1f} s vs {e2e['duckdb']['wall_s']:.1f} s = {ratio:.2f}x | "
                    f"{verdict(ratio <= limit)} |"
                )
            counted = ", ".join(n for k, n in COUNTED.items() if k in e2e)
            rows.append(
                f"| {name}: session counts equal ({counted}) | "
                f"{e2e['botmeter']['sessions']:,} | {verdict(e2e['sessions_equal'])} |"
            )
            if events >= 10_000_000:
                peak = e2e["botmeter"]["tree_peak_mb"]
                rows.append(f"| {name}: full build < {FULL_BUILD_10M_S:.0f} s | {wall:.1f} s | "
                            f"{verdict(wall < FULL_BUILD_10M_S)} |")  # fmt: skip
                rows.append(f"| {name}: full build < 4 GB | {peak:,.0f} MB (process tree) | "
                            f"{verdict(peak < MEMORY_MB)} |")  # fmt: skip
        if daily:
            new, empty = daily["new_day"]["wall_s"], daily["empty_day"]["wall_s"]
            rows.append(f"| {name}: one new day < {NEW_DAY_S:.0f} s | {new:.1f} s | "
                        f"{verdict(new < NEW_DAY_S)} |")  # fmt: skip
            rows.append(f"| {name}: empty day < {EMPTY_DAY_S:.0f} s | {empty:.1f} s | "
                        f"{verdict(empty < EMPTY_DAY_S)} |")  # fmt: skip
        app = size.get("app")
        if app:
            first, p95 = app["first_render_max_s"], app["filter_change_p95_s"]
            rows.append(f"| {name}: app first render < {FIRST_RENDER_S:.0f} s (slowest page) | "
                        f"{first:.3f} s | {verdict(first < FIRST_RENDER_S)} |")  # fmt: skip
            rows.append(f"| {name}: app filter change p95 < {FILTER_P95_S * 1000:.0f} ms "
                        f"({app['users']} users) | {p95 * 1000:.0f} ms | "
                        f"{verdict(p95 < FILTER_P95_S)} |")  # fmt: skip
    return rows


def table(rows: list[dict], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return lines


def render(results: dict) -> str:
    machine = results["machine"]
    out = [
        "# botmeter benchmark results",
        "",
        f"Measured {results['started']} on {machine['cpu_cores']} cores "
        f"({machine['cpu_model']}), {machine['memory_gb']} GB, duckdb {machine['duckdb']}, "
        f"dagster {machine['dagster']}, dbt-core {machine['dbt-core']}; "
        f"`python -m benchmarks.run {' '.join(results['argv'])}`. Wall seconds, CPU seconds "
        "and the peak memory of the whole process tree of each command (benchmarks/README.md).",
        "",
        "## Targets",
        "",
        *targets(results),
        "",
        "## end-to-end",
        "",
        "`botmeter run` on a fresh warehouse against the core jobs of benchmarks/core_job.py, "
        "same landing, same run.",
        "",
    ]
    columns = ["size", "command", "wall_s", "cpu_s", "tree_peak_mb", "sessions"]
    rows = []
    for name, size in results["sizes"].items():
        for key in ("botmeter", "duckdb", "pandas"):
            if key in size.get("end_to_end", {}):
                rows.append({"size": name, "command": key, **size["end_to_end"][key]})
    out += [*table(rows, columns), "", "## daily", ""]
    out += ["On the built warehouse: one new arrival day, an empty arrival day, then a run with",
            "nothing new (as the daily schedule finds them).", ""]  # fmt: skip
    rows = [
        {"size": name, "run": key.replace("_", " "), **figs}
        for name, size in results["sizes"].items()
        for key, figs in size.get("daily", {}).items()
    ]
    out += [*table(rows, ["size", "run", "wall_s", "cpu_s", "tree_peak_mb"]), "", "## app", ""]
    out += [
        "`botmeter serve` on the published file: the first request of each page after start,",
        "then filter changes (random range, bot, channel) by concurrent users.",
        "",
    ]
    rows = [
        {"size": name, **{k: v for k, v in size["app"].items() if not isinstance(v, dict)}}
        for name, size in results["sizes"].items()
        if size.get("app")
    ]
    app_columns = ["size", "ready_s", "first_render_max_s", "users", "requests",
                   "filter_change_p50_s", "filter_change_p95_s", "requests_per_s"]  # fmt: skip
    out += [*table(rows, app_columns), "", "## startup", ""]
    if results.get("startup"):
        s = results["startup"]
        out.append(f"Full build of a 20-event landing: {s['wall_s']:.1f} s wall, "
                   f"{s['cpu_s']:.1f} CPU s, {s['tree_peak_mb']} MB.")  # fmt: skip
    out += ["", "## spark", ""]
    out += [
        "`botmeter run --engine spark` (dbt-spark session mode, local[2], docs/spark.md)",
        "on the end-to-end landing, and on a 20-event landing for the fixed cost.",
        "",
    ]
    rows = []
    for name, size in results["sizes"].items():
        if "botmeter" in size.get("end_to_end", {}):
            rows.append({"size": name, "engine": "duckdb", **size["end_to_end"]["botmeter"]})
        for key, label in (("full_build", name), ("startup", f"20 events ({name} run)")):
            if key in size.get("spark", {}):
                rows.append({"size": label, "engine": "spark", **size["spark"][key]})
    out += table(rows, ["size", "engine", "wall_s", "cpu_s", "tree_peak_mb", "sessions"])
    out += ["", "## impressions", ""]
    if results.get("impressions"):
        out.append("```json\n" + json.dumps(results["impressions"], indent=2) + "\n```")
    findings = ROOT / "benchmarks" / "FINDINGS.md"
    if findings.exists():
        out += ["", "## Profiling findings", "", findings.read_text().strip()]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1M", type=lambda s: [parse_size(x) for x in s.split(",")])
    p.add_argument("--days", type=int, default=DAYS, help="arrival days of each landing")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip", default="", type=lambda s: [x for x in s.split(",") if x],
                   help=f"sections to leave out, of: {', '.join(SECTIONS)}")  # fmt: skip
    p.add_argument("--skip-pandas", action="store_true", help="no pandas core job (slow at 10M)")
    p.add_argument("--quick", action="store_true", help="small impressions case (smoke test)")
    p.add_argument("--workdir", default="/tmp/botmeter-bench")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    p.add_argument("--keep", action="store_true", help="keep the built warehouses")
    p.add_argument("--merge", action="store_true",
                   help="add these figures to the existing RESULTS.json")  # fmt: skip
    p.add_argument("--render", action="store_true",
                   help="rewrite RESULTS.md from RESULTS.json and FINDINGS.md")  # fmt: skip
    args = p.parse_args(argv)
    if args.render:
        args.out.write_text(render(json.loads(args.out.with_suffix(".json").read_text())))
        print(f"[bench] wrote {args.out}")
        return 0
    unknown = set(args.skip) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; sections: {', '.join(SECTIONS)}")
    bench = Bench(args)
    previous = args.out.with_suffix(".json")
    if args.merge and previous.exists():
        kept = json.loads(previous.read_text())
        bench.results = {**kept, "sizes": kept.get("sizes", {}),
                         "argv": kept.get("argv", []) + ["+", *sys.argv[1:]]}  # fmt: skip
    results = bench.run()
    args.out.write_text(render(results))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

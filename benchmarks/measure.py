"""Whole-process measurement of one command: wall time and peak memory.

Every measured step runs as its own child process so its peak memory is its own:

* ``peak_rss_mb`` comes from GNU ``/usr/bin/time -v`` ("Maximum resident set size") when it is
  installed, else from ``resource.getrusage(RUSAGE_CHILDREN)``. Both report the largest
  *single* process of the tree (``botmeter run`` starts dbt as a subprocess).
* ``tree_peak_mb`` samples ``/proc`` every 0.2 s and sums the RSS of the whole process tree,
  so it also covers botmeter + dbt alive at the same time (a sampled lower bound of the true
  peak; spikes shorter than 0.2 s can be missed).
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

GNU_TIME = "/usr/bin/time"


@dataclass
class Measurement:
    label: str
    argv: list[str]
    wall_s: float
    peak_rss_mb: float
    tree_peak_mb: float
    returncode: int
    cpu_s: float = 0.0  # user + system CPU seconds of the tree (GNU time only)
    load_before: float = 0.0  # 1-minute load average when the step started
    stdout: str = ""
    stderr: str = ""
    extra: dict = field(default_factory=dict)

    def json_payload(self) -> dict:
        """The last line of stdout that parses as a JSON object (tasks print their figures)."""
        for line in reversed(self.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
        return {}


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_rss_kb(root: int) -> int:
    kids = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(kids.get(pid, ()))
    return total


def run(
    label: str,
    argv: list[str],
    env: dict | None = None,
    cwd: str | Path | None = None,
    check: bool = True,
) -> Measurement:
    """Run argv to completion and measure it (see module docstring)."""
    use_gnu = Path(GNU_TIME).exists()
    full = [GNU_TIME, "-v", *argv] if use_gnu else list(argv)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        full, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    rss_kb, cpu = 0.0, 0.0
    if use_gnu:
        for key in ("User time (seconds)", "System time (seconds)"):
            c = re.search(re.escape(key) + r": ([\d.]+)", err)
            cpu += float(c.group(1)) if c else 0.0
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        rss_kb = float(m.group(1)) if m else 0.0
        err = err[: m.start()].rsplit("\tCommand being timed", 1)[0] if m else err
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rss_kb = float(after if after > before else before)
    result = Measurement(
        label, list(argv), wall, rss_kb / 1024, peak[0] / 1024, proc.returncode, cpu, load, out, err
    )
    if check and proc.returncode != 0:
        tail = "\n".join((out + "\n" + err).strip().splitlines()[-25:])
        raise RuntimeError(f"{label} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
    return result


def machine_info() -> dict:
    import duckdb
    import numpy
    import pandas

    info = {
        "cpu_cores": os.cpu_count(),
        "cpu_model": "",
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "gnu_time": Path(GNU_TIME).exists(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib import metadata

    for dist in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "pyarrow"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = "absent"
    info["disk_free_gb"] = round(shutil.disk_usage("/tmp").free / 2**30, 1)
    return info

"""The dbt project handle and manifest preparation.

Kept apart from the @dbt_assets definitions: the CLI must re-parse the manifest *before*
importing them, because the decorator reads target/manifest.json at import time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import PROJECT_ROOT, WAREHOUSE_ENV, warehouse_path

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# dbt invocation folders kept under target/ (compiled SQL and run_results.json of recent runs).
KEPT_INVOCATION_FOLDERS = 10


def dbt_executable() -> str:
    """dbt from this interpreter's environment, so it works without an activated venv."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_run_vars(start: str, end: str) -> str:
    """The --vars of a partitioned run (the arrival dates it processes)."""
    return json.dumps({"run_start_date": start, "run_end_date": end})


DBT_PROJECT_DIR = PROJECT_ROOT
DBT_PROFILES_DIR = PROJECT_ROOT / "dbt_project"
DBT_TARGET_DIR = PROJECT_ROOT / "target"


@contextlib.contextmanager
def parsing_manifest(warehouse: Path | None = None, dbt_vars: str | None = None) -> Iterator[None]:
    """Parse the dbt project into target/manifest.json while the block runs.

    `dbt parse` runs in its own process (about 5 s, mostly one core), so the caller can import
    what it needs meanwhile; the manifest is in place when the block exits, and a failed parse
    raises there. BOTMETER_WAREHOUSE and --vars are set exactly as the later `dbt build` will
    see them: dbt's partial parsing re-parses everything from scratch when either changed.
    The parse writes into a private folder whose files are renamed into target/, so a process
    reading the manifest at the same time never sees a half-written file.
    """
    target = DBT_TARGET_DIR
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, WAREHOUSE_ENV: str(warehouse_path(warehouse))}
    extra = ["--vars", dbt_vars] if dbt_vars else []
    with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as private:
        state = target / PARTIAL_PARSE_FILE
        if state.exists():
            shutil.copy2(state, private)
        command = [
            dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROFILES_DIR),
            "--target-path",
            private,
            *extra,
        ]
        parse = subprocess.Popen(command, cwd=DBT_PROJECT_DIR, env=env)
        try:
            yield
        finally:
            returncode = parse.wait()
        if returncode != 0:
            raise subprocess.CalledProcessError(returncode, command)
        for name in (PARTIAL_PARSE_FILE, "manifest.json"):  # the manifest last
            if (Path(private) / name).exists():
                os.replace(Path(private) / name, target / name)


def prepare_manifest(warehouse: Path | None = None, dbt_vars: str | None = None) -> None:
    """Parse the dbt project into target/manifest.json (needed before definitions load)."""
    with parsing_manifest(warehouse, dbt_vars):
        pass


def prune_invocation_folders(current: Path, keep: int = KEPT_INVOCATION_FOLDERS) -> list[Path]:
    """Remove all but the newest `keep` dbt invocation folders beside `current`.

    dagster-dbt gives every `dbt build` its own `target/<op>-<run>-<uuid>/` (compiled SQL, run
    results, logs: megabytes each) and never removes one, so a daily schedule grows target/
    by a folder a day. Folders of other ops and dbt's own files are left alone.
    """
    prefix = current.name.split("-", 1)[0] + "-"
    folders = sorted(
        (p for p in current.parent.glob(prefix + "*") if p.is_dir() and p != current),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = folders[max(keep - 1, 0) :]
    for old in removed:
        shutil.rmtree(old, ignore_errors=True)
    return removed


@cache
def botmeter_dbt_project() -> DbtProject:
    """The dbt project at the repository root; the manifest is prepared on first use."""
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROFILES_DIR,
        target_path=DBT_TARGET_DIR,
    )
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        prepare_manifest()
    return project

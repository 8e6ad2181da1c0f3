"""The code location loads, the layout is the repo's own, and dbt sees the models."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from botmeter.settings import PROJECT_ROOT

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def test_top_level_packages_import_from_this_repo():
    import assets
    import benchmarks
    import checks
    import orchestration

    for module in (assets, checks, orchestration, benchmarks):
        assert Path(module.__file__).resolve().is_relative_to(PROJECT_ROOT), module.__file__


def test_dbt_parses_the_top_level_models_folder():
    from orchestration.dbt_project import botmeter_dbt_project, prepare_manifest

    prepare_manifest()
    project = botmeter_dbt_project()
    manifest = json.loads(Path(project.manifest_path).read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) >= 10, "dbt parsed (almost) no models: check model-paths"
    assert all(m["original_file_path"].startswith("models/") for m in models)
    assert {"fct_sessions", "stg_botmeter__events"} <= {m["name"] for m in models}


def test_a_failed_parse_raises_and_keeps_the_previous_manifest():
    """The parse runs beside the caller's block (parsing_manifest): its failure must still
    surface when the block ends, and target/ must keep the last good manifest."""
    from orchestration.dbt_project import botmeter_dbt_project, parsing_manifest

    manifest = Path(botmeter_dbt_project().manifest_path)
    before = manifest.read_bytes()
    ran = []
    with pytest.raises(subprocess.CalledProcessError):
        with parsing_manifest(dbt_vars="{not: [valid"):
            ran.append(True)
    assert ran == [True]
    assert manifest.read_bytes() == before


def test_dbt_unit_tests_for_the_session_rules_are_parsed():
    """dbt ignores `unit_tests:` nested under a model; make sure ours are really there."""
    from orchestration.dbt_project import botmeter_dbt_project

    manifest = json.loads(Path(botmeter_dbt_project().manifest_path).read_text())
    unit_tests = {n["name"] for n in manifest.get("unit_tests", {}).values()}
    assert {
        "gap_of_exactly_the_timeout_starts_a_new_session",
        "bot_messages_in_a_gap_do_not_keep_the_session_alive",
        "a_session_crossing_midnight_is_one_session_dated_by_its_start",
        "earliest_arrival_wins_whatever_the_order",
        "exactly_24_hours_later_is_a_new_unique_impression",
    } <= unit_tests


def test_workspace_yaml_code_location_loads():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(PROJECT_ROOT / "workspace.yaml")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _asset_graph() -> dict[str, list[str]]:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    }


def test_asset_graph_snapshot():
    """A change to the asset graph must be deliberate: regenerate with
    `python -m tests.test_definitions` and review the diff."""
    assert _asset_graph() == json.loads(SNAPSHOT.read_text())


def test_daily_schedule_requests_yesterdays_partition():
    from orchestration.definitions import defs

    schedule = defs.get_schedule_def("daily_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2024, 5, 2, 2, 0, tzinfo=dt.UTC),
        repository_def=defs.get_repository_def(),
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2024-05-01"


def test_daily_job_covers_landing_and_models_with_in_process_executor():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("botmeter_daily")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"raw/events", "staging/stg_botmeter__events", "marts/fct_sessions"} <= keys
    assert job.executor_def.name == "in_process"


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(_asset_graph(), indent=2) + "\n")
    print(f"wrote {SNAPSHOT}")


def test_old_dbt_invocation_folders_are_pruned(tmp_path):
    import os

    from orchestration.dbt_project import prune_invocation_folders

    folders = []
    for i in range(14):
        folder = tmp_path / f"botmeter_dbt_models-run{i:02d}-abc"
        folder.mkdir()
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
        folders.append(folder)
    other = tmp_path / "other_op-run00-abc"
    other.mkdir()
    (tmp_path / "manifest.json").write_text("{}")
    current = folders[0]  # the running invocation is kept even though it is the oldest

    removed = prune_invocation_folders(current, keep=5)

    kept = sorted(p.name for p in tmp_path.glob("botmeter_dbt_models-*"))
    assert kept == sorted([current.name, *(f.name for f in folders[10:])])
    assert sorted(removed) == sorted(folders[1:10])
    assert other.is_dir() and (tmp_path / "manifest.json").exists()


def test_dbt_profile_uses_the_same_default_memory_limit_as_botmeter():
    import yaml

    from orchestration.resources import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV

    profile = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text())
    setting = profile["botmeter"]["outputs"]["dev"]["settings"]["memory_limit"]
    assert setting == f"{{{{ env_var('{MEMORY_LIMIT_ENV}', '{DEFAULT_MEMORY_LIMIT}') }}}}"


def test_memory_budget_sizes_and_botmeter_s_half(monkeypatch):
    import pytest

    from orchestration.resources import (
        MEMORY_LIMIT_ENV,
        memory_limit,
        own_memory_limit,
        parse_memory_size,
    )

    assert parse_memory_size("4GB") == 4 * 10**9
    assert parse_memory_size(" 3.5 gb ") == 3_500_000_000
    assert parse_memory_size("4096MiB") == 4 * 2**30
    assert parse_memory_size("1000") == 1000
    for bad in ("4 GBs", "-1GB", "lots", "80%"):
        with pytest.raises(ValueError, match=MEMORY_LIMIT_ENV):
            parse_memory_size(bad)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "3GB")
    assert (memory_limit(), own_memory_limit()) == ("3GB", "1500MB")
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "100MB")
    assert own_memory_limit() == "256MB"  # floor: DuckDB needs room to run at all
    monkeypatch.delenv(MEMORY_LIMIT_ENV)
    assert memory_limit() == "3GB"


def test_a_run_freezes_imported_objects_and_collection_still_works():
    """The warehouse resource freezes what is imported when a run's resources are set up and
    thaws it when they are torn down. Meanwhile a collection scans only newer objects, and
    a cycle made then (as GX's validators are, around a DataFrame) is still freed. In a
    child process, so the test worker is never frozen."""
    code = """
import gc, weakref
import dagster as dg
from orchestration.memory import release_freed_memory
from orchestration.resources import WarehouseResource
assert gc.get_freeze_count() == 0
class Node: pass
with dg.build_resources({"warehouse": WarehouseResource()}):
    frozen = gc.get_freeze_count()
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    release_freed_memory()
    scanned = len(gc.get_objects())
print(frozen, alive() is None, scanned < frozen // 10, gc.get_freeze_count() == 0)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    ).stdout.split()
    assert int(out[0]) > 10_000 and out[1:] == ["True", "True", "True"]

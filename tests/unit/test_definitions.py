"""The code location loads, the layout is the repo's own, dbt sees the models, and the UI
shows the assets when started exactly as the README says."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import yaml

from botmeter.settings import PROJECT_ROOT

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "asset_graph.json"


def test_top_level_packages_import_from_this_repo():
    import assets
    import benchmarks
    import botmeter
    import checks
    import orchestration
    import tools

    for module in (assets, botmeter, checks, orchestration, benchmarks, tools):
        assert Path(module.__file__).resolve().is_relative_to(PROJECT_ROOT), module.__file__


def test_orchestration_holds_only_dagster_definitions():
    """Each folder means one thing: orchestration/ has the Dagster definitions, resources,
    jobs, schedule, sensor and what decides a run, nothing else."""
    names = {p.stem for p in (PROJECT_ROOT / "orchestration").glob("*.py")}
    assert names == {
        "__init__",
        "dbt",
        "definitions",
        "jobs",
        "partitions",
        "pending",
        "progress",
        "resources",
        "schedules",
        "sensors",
    }


def test_no_private_dagster_imports_or_process_tricks():
    """No `dagster._` imports, no filters on Dagster's loggers, no gc freezing or ctypes."""
    offenders = []
    packages = ("assets", "botmeter", "checks", "orchestration", "tools", "benchmarks")
    for path in [p for package in packages for p in (PROJECT_ROOT / package).rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for needle in ("from dagster._", "import dagster._", "gc.freeze", "ctypes", "addFilter"):
            if needle in text:
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}: {needle}")
    assert offenders == []


def test_dbt_parses_the_top_level_models_folder():
    from orchestration.dbt import botmeter_dbt_project, prepare_manifest

    prepare_manifest()
    project = botmeter_dbt_project()
    manifest = json.loads(Path(project.manifest_path).read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) >= 10, "dbt parsed (almost) no models: check model-paths"
    assert all(m["original_file_path"].startswith("models/") for m in models)
    assert {"fct_sessions", "stg_botmeter__events", "rpt_sessions"} <= {m["name"] for m in models}


def test_the_published_models_have_enforced_contracts_and_an_exposure():
    """Every model BI tools read (marts, reporting) has an enforced contract with a type for
    every column, and the published file's exposure lists exactly them."""
    from orchestration.dbt import botmeter_dbt_project

    manifest = json.loads(Path(botmeter_dbt_project().manifest_path).read_text())
    published = {
        n["unique_id"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] in ("marts", "reporting")
    }
    for node in published.values():
        assert node["config"]["contract"]["enforced"], node["name"]
        assert all(c.get("data_type") for c in node["columns"].values()), node["name"]
    exposure = manifest["exposures"]["exposure.botmeter.published_warehouse"]
    assert set(exposure["depends_on"]["nodes"]) == set(published)


def test_one_declaration_of_the_product_constants():
    """The data start, event types and actors are declared once (dbt_project.yml vars) and
    read by dbt and Python alike."""
    from botmeter.settings import load_rules

    rules = load_rules()
    for path in [*PROJECT_ROOT.glob("assets/*.py"), *PROJECT_ROOT.glob("checks/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "2022-02-04" not in text and "2022, 2, 4" not in text, path
        assert '"conversation_started",\n    "conversation_closed"' not in text, path
    assert rules.data_start_date.isoformat() == "2022-02-04"
    assert "ticket_created" in rules.event_types


def test_a_failed_parse_raises_and_keeps_the_previous_manifest(tmp_path, monkeypatch):
    """The parse runs beside the caller's block (parsing_manifest): its failure must still
    surface when the block ends, and target/ must keep the last good manifest."""
    from orchestration import dbt as dbt_module
    from orchestration.dbt import botmeter_dbt_project, parsing_manifest

    manifest = Path(botmeter_dbt_project().manifest_path)
    before = manifest.read_bytes()
    broken = tmp_path / "project"
    broken.mkdir()
    (broken / "dbt_project.yml").write_text("name: [not a project\n")
    monkeypatch.setattr(dbt_module, "DBT_PROJECT_DIR", broken)
    ran = []
    with pytest.raises(subprocess.CalledProcessError):
        with parsing_manifest():
            ran.append(True)
    assert ran == [True]
    assert manifest.read_bytes() == before


def test_dbt_unit_tests_for_the_session_rules_are_parsed():
    """dbt ignores `unit_tests:` nested under a model; make sure ours are really there."""
    from orchestration.dbt import botmeter_dbt_project

    manifest = json.loads(Path(botmeter_dbt_project().manifest_path).read_text())
    unit_tests = {n["name"] for n in manifest.get("unit_tests", {}).values()}
    assert {
        "gap_of_exactly_the_timeout_starts_a_new_session",
        "bot_messages_in_a_gap_do_not_keep_the_session_alive",
        "a_session_crossing_midnight_is_one_session_dated_by_its_start",
        "earliest_arrival_wins_whatever_the_order",
        "exactly_24_hours_later_is_a_new_unique_impression",
        "a_session_takes_the_name_and_version_known_when_it_started",
        "an_impression_is_engaged_by_a_conversation_of_its_visitor_within_its_window",
    } <= unit_tests


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


def test_every_asset_has_an_owner_a_group_and_kinds():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assert node.owners and node.group_name and node.kinds, key.to_user_string()


def test_jobs_are_built_from_selections_and_run_in_process():
    from orchestration.definitions import defs

    daily = defs.resolve_job_def("botmeter_daily")
    keys = {k.to_user_string() for k in daily.asset_layer.executable_asset_keys}
    assert {"raw/events", "staging/stg_botmeter__events", "serving/dashboard"} <= keys
    assert daily.executor_def.name == "in_process"


def test_old_dbt_invocation_folders_are_pruned(tmp_path):
    from orchestration.dbt import prune_invocation_folders

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
    from botmeter.settings import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV

    profile = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text())
    setting = profile["botmeter"]["outputs"]["duckdb"]["settings"]["memory_limit"]
    assert setting == f"{{{{ env_var('{MEMORY_LIMIT_ENV}', '{DEFAULT_MEMORY_LIMIT}') }}}}"


def test_memory_budget_sizes_and_botmeter_s_half(monkeypatch):
    from botmeter.settings import (
        MEMORY_LIMIT_ENV,
        ConfigError,
        memory_limit,
        own_memory_limit,
        parse_memory_size,
    )

    assert parse_memory_size("4GB") == 4 * 10**9
    assert parse_memory_size(" 3.5 gb ") == 3_500_000_000
    assert parse_memory_size("4096MiB") == 4 * 2**30
    for bad in ("4 GBs", "-1GB", "lots", "80%", "abc", "100MB"):
        with pytest.raises(ConfigError, match=MEMORY_LIMIT_ENV):
            parse_memory_size(bad)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "3GB")
    assert (memory_limit(), own_memory_limit()) == ("3GB", "1500MB")
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "abc")
    with pytest.raises(ConfigError, match="not a memory size"):
        memory_limit()
    monkeypatch.delenv(MEMORY_LIMIT_ENV)
    assert memory_limit() == "3GB"


def test_the_schedule_and_the_sensor_ask_what_is_pending(tmp_path):
    """Both launch what orchestration/pending.py finds (as `botmeter run` does); with no
    landing folder they skip and say why."""
    from orchestration.definitions import defs
    from orchestration.resources import WarehouseResource
    from orchestration.sensors import evaluate_pending

    warehouse = WarehouseResource(
        warehouse_path=str(tmp_path / "wh.duckdb"), landing_path=str(tmp_path / "nowhere")
    )
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        result = evaluate_pending(context, warehouse)
    assert isinstance(result, dg.SkipReason)
    assert "landing folder not found" in result.skip_message
    schedule = defs.get_schedule_def("daily_schedule")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "UTC"
    assert defs.get_sensor_def("landing_sensor").default_status == dg.DefaultSensorStatus.STOPPED


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(_asset_graph(), indent=2) + "\n")
    print(f"wrote {SNAPSHOT}")


def test_landing_freshness_is_measured_by_dagster_and_dbt_from_the_landing_time():
    """Issue 17, item 7: the hand-written check took the arrival *date* as the age's origin
    and reported "-6.9 h old". Freshness is now Dagster's own policy on raw/events (the age of
    its last materialization) and dbt's source freshness on `landed_at`, both a lag after a
    real timestamp, with the lag declared once (var max_landing_lag_hours)."""
    import datetime as dt

    from assets.raw_events import RAW_EVENTS_KEY, raw_events
    from botmeter.settings import load_rules

    lag = dt.timedelta(hours=load_rules().max_landing_lag_hours)
    policy = raw_events.get_asset_spec(RAW_EVENTS_KEY).freshness_policy
    assert policy is not None
    windows = [policy.warn_window, policy.fail_window]
    assert [dt.timedelta(days=w.days, seconds=w.seconds) for w in windows] == [
        lag,
        lag + dt.timedelta(days=1),
    ]
    sources = yaml.safe_load((PROJECT_ROOT / "models" / "_sources.yml").read_text())
    raw = next(s for s in sources["sources"] if s["name"] == "raw")
    assert raw["loaded_at_field"] == "landed_at"
    assert "max_landing_lag_hours" in raw["freshness"]["warn_after"]["count"]
    assert not list((PROJECT_ROOT / "checks").glob("*fresh*.py"))

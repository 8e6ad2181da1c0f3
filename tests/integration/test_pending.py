"""What a run must do (orchestration/pending.py): the one answer `botmeter run`, the daily
schedule and the landing sensor act on, read from where each step recorded its work."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time

import dagster as dg
import duckdb
import pytest
import yaml

from botmeter import settings
from orchestration.pending import find_pending
from tests._serving import run_full
from tests.pipeline_helpers import event, write_landing

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4)]


def _events(day: dt.date, n: int = 3) -> list[dict]:
    return [event(f"{day}-{i}", "message", f"{day}T10:0{i}:00Z") for i in range(n)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A landing of four days, landed, built and published by the real pipeline."""
    root = tmp_path_factory.mktemp("pending")
    landing = root / "landing"
    write_landing(landing, {day: _events(day) for day in DAYS})
    warehouse = root / "warehouse.duckdb"
    run_full(landing, warehouse)
    return root


@pytest.fixture
def copy(built, tmp_path):
    """A private copy of the built landing, warehouse and published files."""
    target = tmp_path / "copy"
    shutil.copytree(built, target, ignore=shutil.ignore_patterns(".dagster*", "*.lock"))
    return target / "landing", target / "warehouse.duckdb"


def test_nothing_is_pending_after_a_complete_run(copy):
    landing, warehouse = copy
    pending = find_pending(warehouse, landing)
    assert pending.nothing, pending.describe()


def test_a_new_warehouse_lands_every_day_in_one_range_and_builds(built, tmp_path):
    from orchestration.definitions import defs
    from orchestration.jobs import next_run_request

    pending = find_pending(tmp_path / "new.duckdb", built / "landing")
    assert pending.land == DAYS and set(pending.land_reasons.values()) == {"new"}
    assert pending.build == ["nothing built yet"]
    request = next_run_request(pending, defs.resolve_asset_graph())
    assert request.job_name == "botmeter_daily"
    assert request.tags["dagster/asset_partition_range_start"] == "2024-03-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-03-04"
    keys = {k.to_user_string() for k in request.asset_selection}
    assert {"raw/events", "marts/fct_sessions", "serving/published_warehouse"} <= keys
    assert request.run_key  # the sensor launches the same pending state once


def test_an_empty_arrival_day_is_landed_without_a_build(copy, monkeypatch):
    """An empty new folder is landed (recorded, the volume check warns) and then nothing is
    pending: it changes no row, so no model is built for it."""
    from botmeter.pipeline import run_pipeline

    landing, warehouse = copy
    empty_day = DAYS[-1] + dt.timedelta(days=1)
    (landing / "events" / empty_day.isoformat()).mkdir()
    pending = find_pending(warehouse, landing)
    assert (
        pending.land == [empty_day]
        and not pending.build
        and not pending.may_change_rows(empty_day, empty_day)
    )
    monkeypatch.setenv("DAGSTER_HOME", str(warehouse.parent / ".dagster-test"))
    lines = run_pipeline(landing, warehouse, echo=lambda line: None)
    assert len([line for line in lines if line.startswith("checks:")]) == 1  # one run
    assert find_pending(warehouse, landing).nothing


def test_a_rewrite_with_the_same_size_and_time_is_noticed(copy):
    """The fingerprint is the content: a file rewritten with other bytes of the same length
    and its modification time put back is still a change (issue 19, item 7)."""
    landing, warehouse = copy
    path = landing / "events" / DAYS[1].isoformat() / "part-000.jsonl"
    stat = path.stat()
    text = path.read_text().replace("10:01:00Z", "10:01:09Z")
    time.sleep(0.01)
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    pending = find_pending(warehouse, landing)
    assert pending.land == [DAYS[1]] and pending.land_reasons[DAYS[1]] == "files changed"


def test_separate_changes_land_one_range_per_run_and_build_after_the_last(copy):
    from orchestration.definitions import defs
    from orchestration.jobs import next_run_request

    landing, warehouse = copy
    write_landing(landing, {DAYS[0]: _events(DAYS[0], 4), DAYS[3]: _events(DAYS[3], 5)})
    pending = find_pending(warehouse, landing)
    assert pending.land_ranges() == [(DAYS[0], DAYS[0]), (DAYS[3], DAYS[3])]
    first = next_run_request(pending, defs.resolve_asset_graph())
    assert {k.to_user_string() for k in first.asset_selection} == {"raw/events"}
    assert first.tags["dagster/asset_partition_range_end"] == DAYS[0].isoformat()


def test_changed_check_settings_land_the_days_again(copy, tmp_path, monkeypatch):
    """The raw checks read config/checks.yml: when it changes, every day is validated
    again, by landing it again (issue 17, item 2)."""
    landing, warehouse = copy
    checks = tmp_path / "checks.yml"
    checks.write_text(yaml.safe_dump({"channels": ["web", "sms"]}))
    monkeypatch.setenv(settings.CHECKS_CONFIG_ENV, str(checks))
    pending = find_pending(warehouse, landing)
    assert pending.land == DAYS
    assert set(pending.land_reasons.values()) == {"landed under other rules or check settings"}


def test_a_changed_kpi_configuration_builds(copy, tmp_path, monkeypatch):
    """A KPI added to the KPI file is noticed by a plain run (issue 17, item 2)."""
    landing, warehouse = copy
    config = yaml.safe_load(settings.DEFAULT_KPI_CONFIG.read_text())
    config["kpis"].append(
        {
            "name": "messaging_sessions",
            "description": "Sessions with a message.",
            "grain": "day",
            "numerator": {"count": "sessions", "where": {"event_type": "message"}},
        }
    )
    path = tmp_path / "kpis.yml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv(settings.KPI_CONFIG_ENV, str(path))
    pending = find_pending(warehouse, landing)
    assert pending.build == ["config/kpis.yml changed"] and not pending.land

    # a plain run builds it and publishes the new KPI; then nothing is pending
    from botmeter.pipeline import run_pipeline

    monkeypatch.setenv("DAGSTER_HOME", str(warehouse.parent / ".dagster-test"))
    run_pipeline(landing, warehouse, echo=lambda line: None)
    published = settings.published_path(warehouse=warehouse)
    with duckdb.connect(str(published), read_only=True) as con:
        rows = con.execute(
            "select sum(numerator) from marts.agg_kpis_daily where kpi_name = 'messaging_sessions'"
        ).fetchone()
    assert rows[0] == len(DAYS)  # one session a day
    assert find_pending(warehouse, landing).nothing


def test_a_changed_rule_var_builds(copy, tmp_path, monkeypatch):
    landing, warehouse = copy
    project = yaml.safe_load(settings.DBT_PROJECT_FILE.read_text())
    project["vars"]["session_timeout_minutes"] = 15
    path = tmp_path / "dbt_project.yml"
    path.write_text(yaml.safe_dump(project))
    monkeypatch.setattr(settings, "DBT_PROJECT_FILE", path)
    pending = find_pending(warehouse, landing)
    assert any("rule var" in reason for reason in pending.build)


def test_a_build_that_did_not_finish_builds_again(copy):
    landing, warehouse = copy
    con = duckdb.connect(str(warehouse))
    con.execute(
        "insert into audit.dbt_builds select 'killed', now(), null, 'running', true, false, "
        "null, batch_to_load_id, batch_to_load_id, rule_vars, engine from audit.dbt_builds "
        "limit 1"
    )
    con.close()
    pending = find_pending(warehouse, landing)
    assert pending.build == ["the last build did not finish (running)"]


def test_a_landed_day_not_built_is_built(copy):
    """A day landed by a run that was killed before dbt (its load is newer than the last
    successful build) is built by the next plain run (issue 19, item 1)."""
    from assets.landing import land_partition

    landing, warehouse = copy
    write_landing(landing, {DAYS[2]: _events(DAYS[2], 6)})
    con = duckdb.connect(str(warehouse))
    land_partition(con, landing, DAYS[2])
    con.execute("update raw.load_audit set contract_passed = true")
    con.close()
    pending = find_pending(warehouse, landing)
    assert not pending.land and pending.build == ["1 landing(s) not built yet"]


def test_a_day_whose_raw_checks_did_not_pass_is_landed_again(copy):
    landing, warehouse = copy
    con = duckdb.connect(str(warehouse))
    con.execute(
        "update raw.load_audit set contract_passed = null where arrival_date = ?", [DAYS[3]]
    )
    con.close()
    pending = find_pending(warehouse, landing)
    assert pending.land == [DAYS[3]]
    assert pending.land_reasons[DAYS[3]] == "its raw checks did not pass"


def test_stale_serving_files_are_made_again_one_by_one(copy):
    landing, warehouse = copy
    published = settings.published_path(warehouse=warehouse)
    dashboard = settings.dashboard_path(published)
    dashboard.unlink()
    pending = find_pending(warehouse, landing)
    assert (pending.publish, pending.parquet) == (None, None) and pending.dashboard
    (settings.parquet_dir(published) / "_publish.json").unlink()
    assert find_pending(warehouse, landing).parquet
    published.with_name(published.name + ".tmp").write_bytes(b"half a file")
    published.unlink()
    pending = find_pending(warehouse, landing)
    assert "missing" in pending.publish and not pending.build


def test_the_daily_schedule_requests_what_is_pending(built, tmp_path, monkeypatch):
    from orchestration.definitions import defs

    monkeypatch.setenv(settings.WAREHOUSE_ENV, str(tmp_path / "new.duckdb"))
    monkeypatch.setenv(settings.LANDING_ENV, str(built / "landing"))
    schedule = defs.get_schedule_def("daily_schedule")
    from orchestration.resources import WarehouseResource

    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2024, 3, 5, 2, 0, tzinfo=dt.UTC),
            repository_def=defs.get_repository_def(),
            resources={"warehouse": WarehouseResource()},
        ) as context,
    ):
        result = schedule.evaluate_tick(context)
    [request] = result.run_requests
    assert request.job_name == "botmeter_daily"
    assert request.tags["dagster/asset_partition_range_start"] == "2024-03-01"

"""A run with nothing new skips the models only when a build would change nothing.

The rules (orchestration/build_state.py) on a hand-made raw.load_audit and published file,
then the whole Dagster job on a small landing: an empty day and a re-landed day skip dbt, the
mart checks and the publish; a day with new rows builds; a day re-delivered without some of
its events rebuilds every model; a failed dbt invocation forgets the last build, and the build
after it, with nothing new, leaves every mart exactly as the skipped runs did; one model
materialized alone builds and forgets the last build too.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import duckdb
import pytest

from assets.raw_schema import ensure_raw_schema
from botmeter.cli import CliError
from orchestration import build_state, quiet_skips
from tests.pipeline_helpers import event, write_landing

D1, D2, D3, D4 = (dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4))


def _audit_row(con, day: dt.date, accepted: int, checksum: str | None) -> None:
    con.execute("delete from raw.load_audit where arrival_date = ?", [day])
    con.execute(
        "insert into raw.load_audit values (?, 1, ?, ?, 0, 0, '{}', 'fp', ?, 0)",
        [day, accepted, accepted, checksum],
    )


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    ensure_raw_schema(con)
    _audit_row(con, D1, 3, "3:11")
    _audit_row(con, D2, 5, "5:22")
    _audit_row(con, D3, 0, "0:0")  # an empty arrival day: nothing for the models
    yield con
    con.close()


@pytest.fixture
def served(tmp_path) -> tuple[Path, Path]:
    """The published file and dashboard paths (written by `_serve`)."""
    return tmp_path / "wh_published.duckdb", tmp_path / "dashboard.html"


def _serve(con, served, stamp: dt.datetime | None = None) -> None:
    """What the publish and dashboard steps do after a build."""
    published, dashboard = served
    stamp = stamp or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    published.unlink(missing_ok=True)
    with duckdb.connect(str(published)) as out:
        out.execute("create schema meta")
        out.execute(
            "create table meta.publish_info as select ?::timestamp as published_at", [stamp]
        )
    build_state.record_published(con, stamp)
    dashboard.write_text("<html></html>")
    build_state.record_dashboard(con)


def _build(con, window=None, signature="sig") -> None:
    """A successful whole-project build over `window` (None: a full refresh)."""
    landed = build_state.start_build(con)
    build_state.record_build(con, signature, window, "run", landed)


def _why(con, served, signature="sig") -> str | None:
    return build_state.why_build(con, signature, *served)


def test_nothing_is_skipped_before_a_build_was_recorded_published_and_shown(con, served):
    assert "no complete whole-project build" in _why(con, served)
    _build(con)
    assert "published file" in _why(con, served)
    published, dashboard = served
    stamp = dt.datetime(2024, 3, 5, 2, 0, 1, 123456)
    _serve(con, served, stamp)
    assert _why(con, served) is None
    assert con.execute(
        f"select arrival_date, events_checksum from {build_state.INPUTS_TABLE} order by 1"
    ).fetchall() == [(D1, "3:11"), (D2, "5:22")]

    dashboard.unlink()
    assert "dashboard" in _why(con, served)
    dashboard.write_text("<html></html>")
    assert _why(con, served) is None
    # Another published file (an older copy restored, or a manual `botmeter publish`).
    _serve(con, served, stamp)
    with duckdb.connect(str(published)) as out:
        out.execute("update meta.publish_info set published_at = published_at - interval 1 day")
    assert "published file" in _why(con, served)
    published.unlink()
    assert "published file" in _why(con, served)


def test_any_dbt_invocation_forgets_the_last_build_until_a_whole_build_succeeds(con, served):
    _build(con)
    _serve(con, served)
    assert _why(con, served) is None
    # A partial selection or a failed build: start_build ran, record_build did not.
    build_state.start_build(con)
    assert "no complete whole-project build" in _why(con, served)
    _serve(con, served)  # publishing the half-built marts does not bring it back
    assert "no complete whole-project build" in _why(con, served)
    _build(con, (D3, D3))  # an empty day's build: D1 and D2 keep what they were built from
    assert "published file" in _why(con, served)
    _serve(con, served)
    assert _why(con, served) is None


def test_a_changed_signature_builds(con, served):
    _build(con)
    _serve(con, served)
    assert "configuration" in _why(con, served, signature="other")


def test_changed_new_removed_or_unknown_raw_rows_build_until_a_build_covers_them(con, served):
    _build(con)
    _serve(con, served)

    _audit_row(con, D2, 5, "5:23")  # re-landed with different rows
    assert f"1 arrival date(s) not yet built, e.g. {D2}" in _why(con, served)
    _build(con, (D3, D4))  # a build of another window leaves D2 unbuilt
    _serve(con, served)
    assert str(D2) in _why(con, served)
    _build(con, (D2, D2))
    _serve(con, served)
    assert _why(con, served) is None

    _audit_row(con, D4, 2, "2:7")  # a new day with rows
    assert str(D4) in _why(con, served)
    _build(con, (D4, D4))
    _serve(con, served)
    assert _why(con, served) is None

    con.execute("delete from raw.load_audit where arrival_date = ?", [D1])  # rows removed
    assert str(D1) in _why(con, served)
    _build(con, (D1, D1))
    _serve(con, served)
    assert _why(con, served) is None

    _audit_row(con, D1, 4, None)  # landed by a botmeter without checksums: never trusted
    _build(con)
    _serve(con, served)
    assert "landed before checksums" in _why(con, served)


def test_checksums_are_the_ones_taken_before_dbt_started(con, served):
    """A day landed while dbt ran (by another process) is not recorded as built."""
    landed = build_state.start_build(con)
    _audit_row(con, D4, 2, "2:7")
    build_state.record_build(con, "sig", None, "run", landed)
    _serve(con, served)
    assert str(D4) in _why(con, served)


def test_signature_follows_dbt_files_code_and_configuration(tmp_path, monkeypatch):
    from orchestration.dbt_project import DBT_PROJECT_DIR

    from botmeter.settings import KPI_CONFIG_ENV, PROJECT_ROOT

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(DBT_PROJECT_DIR / "dbt_project.yml", project)
    shutil.copytree(DBT_PROJECT_DIR / "models", project / "models")
    first = build_state.project_signature(project)
    assert build_state.project_signature(project) == first
    seen = {first}

    def changed() -> bool:
        signature = build_state.project_signature(project)
        fresh = signature not in seen
        seen.add(signature)
        return fresh

    (project / "models" / "__pycache__").mkdir()
    (project / "models" / "__pycache__" / "x.pyc").write_bytes(b"noise")
    (project / "models" / ".fct_sessions.sql.swp").write_bytes(b"noise")
    assert not changed()  # caches and editor files are not the project

    model = project / "models" / "marts" / "sessions" / "fct_sessions.sql"
    model.write_text(model.read_text() + "\n-- an edit\n")
    assert changed()
    (project / "models" / "new_model.sql").write_text("select 1 as x\n")
    assert changed()

    kpis = tmp_path / "kpis.yml"
    kpis.write_text((PROJECT_ROOT / "config" / "kpis.yml").read_text())
    monkeypatch.setenv(KPI_CONFIG_ENV, str(kpis))
    assert not changed()  # the same KPI definitions from another path
    kpis.write_text(kpis.read_text() + "\n# a comment is a change too: build once\n")
    assert changed()
    monkeypatch.setenv("BOTMETER_CHECKS_CONFIG", str(tmp_path / "checks.yml"))
    (tmp_path / "checks.yml").write_text((PROJECT_ROOT / "config" / "checks.yml").read_text())
    assert not changed()
    (tmp_path / "checks.yml").write_text("channels: [web]\n")
    assert changed()


# --- the whole Dagster job ------------------------------------------------------------------


def _marts(warehouse: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            n: con.execute(
                f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from marts.{n} as t"
            ).fetchone()
            for n in names
        }
    finally:
        con.close()


SKIPPED = "models: up to date"


def test_daily_runs_with_nothing_new_skip_the_models_and_keep_every_mart(
    tmp_path, monkeypatch, caplog
):
    from botmeter import settings
    from botmeter.cli import execute_job
    from tests._serving import START
    from tools.generator import generate

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    days = [START + dt.timedelta(days=i) for i in range(3)]
    generate(landing, start=START, days=len(days), seed=5, events_per_day=150)
    published = settings.published_path(warehouse=warehouse)

    def run(day: dt.date, full_refresh: bool = False) -> list[str]:
        return execute_job(
            landing, warehouse, day, day if not full_refresh else days[-1], full_refresh
        )

    assert SKIPPED not in "\n".join(run(days[0], full_refresh=True))
    marts, stamp = _marts(warehouse), published.stat().st_mtime_ns

    # An empty arrival day, then a day re-landed from the same files: nothing to build.
    empty = days[-1] + dt.timedelta(days=1)
    (landing / "events" / empty.isoformat()).mkdir()
    for day in (empty, days[1]):
        lines = run(day)
        assert SKIPPED in "\n".join(lines)
        assert any(line.startswith("checks: ") and " 0 passed" not in line for line in lines)
        assert _marts(warehouse) == marts
        assert published.stat().st_mtime_ns == stamp  # not re-published
    assert not [r for r in caplog.records if "without gating" in r.getMessage()]

    # A landed day gets another file (events are only ever added: docs/incremental.md): its
    # rows are rebuilt and published.
    late = [event(f"late-{i}", "message", f"{days[0]}T23:5{i}:00Z") for i in range(3)]
    write_landing(landing, {days[1]: late})  # part-000.jsonl beside the part-*.jsonl.gz
    assert SKIPPED not in "\n".join(run(days[1]))
    assert _marts(warehouse) != marts
    assert published.stat().st_mtime_ns != stamp
    marts, stamp = _marts(warehouse), published.stat().st_mtime_ns
    assert SKIPPED in "\n".join(run(empty))

    # The same day re-delivered with two of those events removed: an incremental build would
    # keep them (the blocking staging reconciliation then refuses to publish), so every model
    # is rebuilt, and the next quiet day skips again.
    write_landing(landing, {days[1]: late[:1]})
    assert SKIPPED not in "\n".join(run(days[1]))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select sum(events_replaced) from raw.load_audit").fetchone() == (0,)
        assert con.execute(
            "select count(*) from staging.stg_botmeter__events where event_id like 'late-%'"
        ).fetchone() == (1,)
    assert _marts(warehouse) != marts
    marts = _marts(warehouse)
    assert SKIPPED in "\n".join(run(empty))

    # An edited configuration builds; that dbt invocation fails and forgets the last build,
    # so the next run (configuration restored) builds too, and that build of nothing new
    # leaves every mart as the skipped runs did (skipping changed nothing).
    import orchestration.dbt_assets as dbt_assets_module
    from checks.settings import CHECKS_CONFIG_ENV, DEFAULT_CHECKS_CONFIG

    edited = tmp_path / "checks.yml"
    edited.write_text(DEFAULT_CHECKS_CONFIG.read_text() + "\n# edited\n")
    with monkeypatch.context() as patch:
        patch.setenv(CHECKS_CONFIG_ENV, str(edited))
        patch.setattr(dbt_assets_module, "dbt_build_args", lambda *_: ["run-operation", "nope"])
        with pytest.raises(CliError, match="botmeter_dbt_models"):
            run(empty)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(f"select count(*) from {build_state.BUILDS_TABLE}").fetchone() == (0,)
    assert SKIPPED not in "\n".join(run(empty))
    assert _marts(warehouse) == marts
    assert SKIPPED in "\n".join(run(empty))

    # One model materialized alone (from the UI) builds, and is not taken for a whole build.
    import dagster as dg

    from orchestration.definitions import defs

    alone = dg.AssetKey(["marts", "agg_sessions_monthly_total"])
    subset = defs.resolve_job_def("botmeter_daily").execute_in_process(
        asset_selection=[alone],
        partition_key=empty.isoformat(),
        instance=dg.DagsterInstance.get(),
        run_config={
            "resources": {
                "warehouse": {
                    "config": {"warehouse_path": str(warehouse), "landing_path": str(landing)}
                }
            }
        },
    )
    assert subset.success
    assert [e.asset_key for e in subset.get_asset_materialization_events()] == [alone]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(f"select count(*) from {build_state.BUILDS_TABLE}").fetchone() == (0,)
    # The check warnings silenced for skipped runs are back for the next run in the process.
    assert not logging.getLogger(quiet_skips.PLAN_LOGGER).filters


def test_replaced_rows_ask_for_a_full_rebuild_until_one_clears_them(con):
    assert build_state.replaced_dates(con) == {}
    con.execute("update raw.load_audit set events_replaced = 2 where arrival_date = ?", [D2])
    con.execute("update raw.load_audit set events_replaced = null where arrival_date = ?", [D1])
    assert build_state.replaced_dates(con) == {D2: 2}  # null: landed before the column existed
    snapshot = build_state.replaced_dates(con)
    con.execute("update raw.load_audit set events_replaced = 3 where arrival_date = ?", [D2])
    build_state.clear_replaced(con, snapshot)  # D2 was re-landed while dbt ran: kept
    assert build_state.replaced_dates(con) == {D2: 3}
    build_state.clear_replaced(con, build_state.replaced_dates(con))
    assert build_state.replaced_dates(con) == {}

    # Dates a build read that hold no rows any more (a raw-only full refresh deleted them).
    build_state.record_build(con, "sig", None, "run", build_state.landed_checksums(con))
    con.execute("delete from raw.load_audit where arrival_date = ?", [D1])
    assert build_state.replaced_dates(con) == {D1: 0}
    build_state.record_build(con, "sig", None, "run", build_state.landed_checksums(con))
    assert build_state.replaced_dates(con) == {}

"""A run with nothing new skips the models only when a build would change nothing.

The rules (orchestration/build_state.py) on a hand-made raw.load_audit, then the whole Dagster
job on a small landing: an empty day and a re-landed day skip dbt, the mart checks and the
publish and leave every mart as it was; changed raw rows, a changed KPI configuration, raw
rows landed without a build and a missing published file all build again (the last two
only on the hand-made audit: each whole-job run costs seconds).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from assets.raw_schema import ensure_raw_schema
from orchestration import build_state
from tests.pipeline_helpers import event, write_landing

D1, D2, D3, D4 = (dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4))


def _audit_row(con, day: dt.date, accepted: int, checksum: str | None) -> None:
    con.execute("delete from raw.load_audit where arrival_date = ?", [day])
    con.execute(
        "insert into raw.load_audit values (?, 1, ?, ?, 0, 0, '{}', 'fp', ?)",
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
def published(tmp_path) -> Path:
    path = tmp_path / "wh_published.duckdb"
    path.touch()
    return path


def _built(con, published) -> str | None:
    return build_state.why_build(con, "sig", published)


def test_nothing_is_skipped_before_a_build_was_recorded_and_published(con, published):
    assert "no whole-project build" in _built(con, published)
    build_state.record_build(con, "sig", None, "run-1")
    assert "not published" in _built(con, published)
    build_state.record_published(con)
    assert _built(con, published) is None
    assert con.execute(
        f"select arrival_date, events_checksum from {build_state.INPUTS_TABLE} order by 1"
    ).fetchall() == [(D1, "3:11"), (D2, "5:22")]
    # A later build of the same inputs is not published until the publish step says so.
    build_state.record_build(con, "sig", (D3, D3), "run-2")
    assert "not published" in _built(con, published)


def test_project_change_or_missing_published_file_builds(con, published):
    build_state.record_build(con, "sig", None, "run-1")
    build_state.record_published(con)
    assert "project" in build_state.why_build(con, "other", published)
    published.unlink()
    assert "not published" in _built(con, published)


def test_changed_new_removed_or_unknown_raw_rows_build_until_a_build_covers_them(con, published):
    build_state.record_build(con, "sig", None, "run-1")
    build_state.record_published(con)

    _audit_row(con, D2, 5, "5:23")  # re-landed with different rows
    assert f"1 arrival date(s) not yet built, e.g. {D2}" in _built(con, published)
    # A build of another window leaves D2 unbuilt.
    build_state.record_build(con, "sig", (D3, D4), "run-2")
    build_state.record_published(con)
    assert str(D2) in _built(con, published)
    build_state.record_build(con, "sig", (D2, D2), "run-3")
    build_state.record_published(con)
    assert _built(con, published) is None

    _audit_row(con, D4, 2, "2:7")  # a new day with rows
    assert str(D4) in _built(con, published)
    build_state.record_build(con, "sig", (D4, D4), "run-4")
    build_state.record_published(con)
    assert _built(con, published) is None

    con.execute("delete from raw.load_audit where arrival_date = ?", [D1])  # rows removed
    assert str(D1) in _built(con, published)
    build_state.record_build(con, "sig", (D1, D1), "run-5")
    build_state.record_published(con)
    assert _built(con, published) is None

    _audit_row(con, D1, 4, None)  # landed by a botmeter without checksums: never trusted
    build_state.record_build(con, "sig", None, "run-6")
    build_state.record_published(con)
    assert "landed before checksums" in _built(con, published)


def test_project_signature_follows_dbt_files_and_kpi_configuration(tmp_path):
    from orchestration.dbt_project import DBT_PROJECT_DIR

    project = tmp_path / "project"
    shutil.copy(DBT_PROJECT_DIR / "dbt_project.yml", project.mkdir() or project)
    shutil.copytree(DBT_PROJECT_DIR / "models", project / "models")
    con = duckdb.connect()
    first = build_state.project_signature(con, project)
    assert build_state.project_signature(con, project) == first

    model = project / "models" / "marts" / "sessions" / "fct_sessions.sql"
    model.write_text(model.read_text() + "\n-- an edit\n")
    edited = build_state.project_signature(con, project)
    assert edited != first
    (project / "models" / "new_model.sql").write_text("select 1 as x\n")
    added = build_state.project_signature(con, project)
    assert added not in (first, edited)

    con.execute("create schema config")
    con.execute("create table config.kpi_definitions as select 'containment' as kpi_name")
    con.execute("create table config.kpi_filters as select 'containment' as kpi_name")
    configured = build_state.project_signature(con, project)
    assert configured != added
    con.execute("update config.kpi_filters set kpi_name = 'escalation'")
    assert build_state.project_signature(con, project) not in (configured, added)


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
    from orchestration import settings
    from orchestration.cli import execute_job
    from orchestration.generator import generate
    from tests._serving import START

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

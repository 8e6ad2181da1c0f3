"""The published warehouse: atomic, read-only-friendly, BI-readable, Parquet, refused after a
failed build, and never corrupted by a reader."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest
import sqlalchemy as sa

from botmeter import publish as publish_mod
from botmeter.pipeline import RunError, run_pipeline
from tests._serving import build_small_warehouse, run_full
from tools import docs_gen


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_small_warehouse(tmp_path_factory.mktemp("publish"))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(path, schema):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = ? and table_type = 'BASE TABLE'",
                [schema],
            ).fetchall()
        }
    finally:
        con.close()


def test_published_file_is_v1_storage_with_the_marts_and_reporting_models(built):
    _, warehouse, published = built
    assert published.read_bytes()[12] == 64  # storage format 64 = STORAGE_VERSION v1.0.0
    assert {"fct_sessions", "agg_sessions_daily", "dim_bots"} <= _tables(published, "marts")
    assert {"rpt_sessions", "rpt_session_usage"} <= _tables(published, "reporting")
    assert not published.with_name(published.name + ".tmp").exists()
    stamp = publish_mod.read_stamp(published)
    con = duckdb.connect(str(warehouse), read_only=True)
    build = con.execute(
        "select invocation_id, rule_vars from audit.dbt_builds order by started_at desc limit 1"
    ).fetchone()
    con.close()
    assert stamp.build_id == build[0] and stamp.rule_vars == json.loads(build[1])
    assert stamp.table_rows["marts.fct_sessions"] > 0


def test_parquet_folders_match_row_counts(built):
    _, _, published = built
    stamp = publish_mod.read_stamp(published)
    con = duckdb.connect()
    for qualified, rows in stamp.table_rows.items():
        folder = published.parent / "parquet" / qualified.split(".")[1]
        assert folder.is_dir(), qualified
        got = con.execute(f"select count(*) from read_parquet('{folder}/*.parquet')").fetchone()
        assert got[0] == rows, qualified
    con.close()
    assert publish_mod.parquet_build_id(published) == stamp.build_id


def test_sqlalchemy_read_only_like_bi_tools(built):
    published = built[2]
    for url, args in (
        (f"duckdb:///{published}?access_mode=read_only", {}),
        (f"duckdb:///{published}", {"read_only": True}),
    ):
        engine = sa.create_engine(url, connect_args=args)
        with engine.connect() as c:
            assert c.execute(sa.text("select count(*) from marts.fct_sessions")).scalar() > 0
            assert "fct_sessions" in sa.inspect(c).get_table_names(schema="marts")
            with pytest.raises(sa.exc.DBAPIError):
                c.execute(sa.text("create table marts.x as select 1"))
        engine.dispose()


def test_reader_held_open_during_full_run(built, tmp_path):
    landing, warehouse, published = built
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import duckdb, os, time
        con = duckdb.connect({str(published)!r}, read_only=True)
        n = 0
        while not os.path.exists({str(stop)!r}):
            con.execute("select count(*) from marts.fct_sessions").fetchone(); n += 1
            time.sleep(0.05)
        print(n)
    """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        before = _digest(published)
        run_full(landing, warehouse)  # must not fail on the reader's lock
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert int(out) > 0
    assert published.exists() and _digest(published) != before  # a new file was swapped in


def test_a_failed_blocking_test_keeps_the_published_file_until_fixed(built):
    """A build whose blocking dbt test fails is never published, and every later plain run
    builds again (instead of saying everything is up to date) until the cause is fixed."""
    from tests.pipeline_helpers import event, write_landing

    landing, warehouse, published = built
    before = _digest(published)
    con = duckdb.connect(str(warehouse))
    day = con.execute("select min(arrival_date) from raw.load_audit").fetchone()[0]
    con.execute(
        "update raw.load_audit set lines_read = lines_read + 1 where arrival_date = ?", [day]
    )
    con.close()
    # a new arrival day makes the next run build: the landing balance of `day` fails
    write_landing(
        landing, {day.replace(year=2025): [event("late1", "message", "2025-01-01T10:00:00Z")]}
    )
    for _ in range(2):  # the run with the new day, then a plain run with nothing new
        with pytest.raises(RunError, match="raw_landing_balances"):
            run_pipeline(landing, warehouse, echo=lambda line: None)
        assert _digest(published) == before
        assert not published.with_name(published.name + ".tmp").exists()
        with pytest.raises(publish_mod.PublishError, match="ended with status 'error'"):
            publish_mod.publish(warehouse, published)
    con = duckdb.connect(str(warehouse))
    con.execute(
        "update raw.load_audit set lines_read = lines_read - 1 where arrival_date = ?", [day]
    )
    con.close()
    lines = run_pipeline(landing, warehouse, echo=lambda line: None)
    assert any(line.startswith("published:") for line in lines)
    assert _digest(published) != before


def test_a_crashed_read_write_reader_does_not_leak_into_the_published_file(built, tmp_path):
    """A BI client that opened the published file read-write, created a table, deleted
    sessions and was killed leaves a write-ahead log beside the file. The next plain run
    sees the published file is not intact, publishes again, and its write-ahead log is not
    replayed onto the new file (issue 19, item 3)."""
    landing, warehouse, published = built
    good = publish_mod.read_stamp(published)
    ready = tmp_path / "ready"
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import duckdb, pathlib, time
        con = duckdb.connect({str(published)!r})
        con.execute("set checkpoint_threshold = '10GB'")
        con.execute("create table marts.scratch as select 42 as x")
        con.execute("delete from marts.fct_sessions where session_id in "
                    "(select session_id from marts.fct_sessions limit 7)")
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(600)
    """),
        ]
    )
    for _ in range(200):
        if ready.exists():
            break
        time.sleep(0.1)
    client.send_signal(signal.SIGKILL)
    client.wait()
    assert published.with_name(published.name + ".wal").exists()
    assert publish_mod.read_stamp(published) is None  # not intact: republish
    lines = run_pipeline(landing, warehouse, echo=lambda line: None)
    assert any(line.startswith("published:") for line in lines), lines
    assert not published.with_name(published.name + ".wal").exists()
    stamp = publish_mod.read_stamp(published)
    assert stamp is not None and stamp.table_rows == good.table_rows
    assert "scratch" not in _tables(published, "marts")
    con = duckdb.connect(str(published), read_only=True)
    assert (
        con.execute("select count(*) from marts.fct_sessions").fetchone()[0]
        == (good.table_rows["marts.fct_sessions"])
    )
    con.close()


def test_a_published_path_equal_to_the_warehouse_is_refused(built, monkeypatch):
    """BOTMETER_PUBLISHED pointing at the working file would replace it with the marts: the
    run refuses in one line before anything is written (issue 19, item 4)."""
    landing, warehouse, _ = built
    before = _digest(warehouse)
    monkeypatch.setenv("BOTMETER_PUBLISHED", str(warehouse))
    with pytest.raises(RunError, match="is the working warehouse"):
        run_pipeline(landing, warehouse, full_refresh=True, echo=lambda line: None)
    assert _digest(warehouse) == before


def test_bi_doc_tables_section_is_up_to_date():
    manifest = json.loads((docs_gen.settings.PROJECT_ROOT / "target" / "manifest.json").read_text())
    generated = docs_gen.render(manifest)
    assert docs_gen.update(docs_gen.DOC, generated) == docs_gen.DOC.read_text(), (
        "docs/bi-tools.md is stale: python -m tools.docs_gen"
    )


def test_publish_spills_under_the_memory_limit(built, monkeypatch):
    """Publishing materializes the reporting views: its own in-memory DuckDB connection must
    carry botmeter's memory limit (at 10M events it otherwise grew past 9 GB)."""
    import orchestration.resources as resources

    _, warehouse, published = built
    seen = []
    real = resources.apply_session_settings

    def spy(con, spill_dir=None):
        real(con, spill_dir)
        seen.append(
            con.execute(
                "select current_setting('memory_limit'), current_setting('temp_directory')"
            ).fetchone()
        )
        return con

    monkeypatch.setenv("BOTMETER_MEMORY_LIMIT", "1GB")  # botmeter's own process: half
    monkeypatch.setattr(resources, "apply_session_settings", spy)
    result = publish_mod.publish(warehouse, published)
    assert result.tables["marts.fct_sessions"] > 0
    assert seen[0] == ("476.8 MiB", str(published.parent / ".publish_spill"))
    publish_mod.export_parquet(published)
    assert all(limit == "476.8 MiB" for limit, _ in seen)  # the Parquet export too
    assert len(seen) == 2
    assert not (published.parent / ".publish_spill").exists()

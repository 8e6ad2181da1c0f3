"""The published warehouse: atomic, read-only-friendly, BI-readable, Parquet, refused on failure."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest
import sqlalchemy as sa

from assets import publish as publish_mod
from tests._serving import build_small_warehouse, run_full
from tools import docs_gen


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_small_warehouse(tmp_path_factory.mktemp("publish"))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_published_file_is_v1_storage_and_has_the_marts(built):
    _, warehouse, published = built
    assert published.read_bytes()[12] == 64  # storage format 64 = STORAGE_VERSION v1.0.0
    con = duckdb.connect(str(published), read_only=True)
    tables = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' and table_type = 'BASE TABLE'"
        ).fetchall()
    }
    con.close()
    assert {"fct_sessions", "agg_sessions_daily", "rpt_session_usage"} <= tables
    assert not published.with_name(published.name + ".tmp").exists()


def test_parquet_folders_match_row_counts(built):
    _, _, published = built
    con = duckdb.connect(str(published), read_only=True)
    for (table,) in con.execute(
        "select table_name from information_schema.tables where table_schema='marts'"
    ).fetchall():
        folder = published.parent / "parquet" / table
        assert folder.is_dir(), table
        rows = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
        assert (
            con.execute(f"select count(*) from read_parquet('{folder}/*.parquet')").fetchone()[0]
            == rows
        )
    con.close()


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


def test_failed_run_leaves_published_file_unchanged(built, monkeypatch):
    landing, warehouse, published = built
    before = _digest(published)
    monkeypatch.setattr(
        publish_mod, "blocking_failures", lambda con: ["sessions_unique: 3 duplicate rows"]
    )
    from botmeter.cli import CliError

    with pytest.raises(CliError, match="blocking data-quality"):
        run_full(landing, warehouse)
    assert _digest(published) == before
    assert not published.with_name(published.name + ".tmp").exists()


def test_bi_doc_marts_section_is_up_to_date(built):
    import json

    manifest = json.loads((docs_gen.settings.PROJECT_ROOT / "target" / "manifest.json").read_text())
    generated = docs_gen.render(manifest, None, built[2])
    assert docs_gen.update(docs_gen.DOC, generated) == docs_gen.DOC.read_text(), (
        "docs/bi-tools.md is stale: python -m tools.docs_gen --published <published file>"
    )


def test_publish_spills_under_the_memory_limit(built, monkeypatch):
    """Publishing materializes the report views: its own in-memory DuckDB connection must
    carry botmeter's memory limit (at 10M events it otherwise grew past 9 GB)."""
    _, warehouse, published = built
    seen = []
    real = publish_mod.apply_session_settings

    def spy(con, spill_dir=None):
        real(con, spill_dir)
        seen.append(
            con.execute(
                "select current_setting('memory_limit'), current_setting('temp_directory')"
            ).fetchone()
        )
        return con

    monkeypatch.setenv("BOTMETER_MEMORY_LIMIT", "1GB")  # botmeter's own process: half
    monkeypatch.setattr(publish_mod, "apply_session_settings", spy)
    result = publish_mod.publish(warehouse, published, check=False)
    assert result.tables["fct_sessions"] > 0
    assert seen[0] == ("476.8 MiB", str(published.parent / ".publish_spill"))
    assert all(limit == "476.8 MiB" for limit, _ in seen)  # the Parquet export too
    assert not (published.parent / ".publish_spill").exists()

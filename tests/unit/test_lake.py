"""The lake (assets/lake.py): the raw and config tables as Parquet for Spark, and the marts
read back from Spark's tables with their contract types."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from assets.lake import (
    CONFIG_TABLES,
    EXPORTED_FILE,
    RAW_TABLES,
    contracted_models,
    export_config,
    export_raw,
    import_models,
    raw_partition,
)
from botmeter import settings
from tests.pipeline_helpers import event, land, write_landing

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)


def landing_with(root: Path, bad_line: str = "{not json") -> Path:
    landing = root / "landing"
    write_landing(
        landing,
        {
            day: [
                event(f"e{day.day}-{i}", "message", f"{day.isoformat()}T10:0{i}:00.000Z")
                for i in range(3)
            ]
            + ([bad_line] if day == D2 else [])
            for day in (D1, D2, D3)
        },
    )
    return landing


def parquet_count(folder: Path) -> int:
    with duckdb.connect() as con:
        return con.execute(f"select count(*) from read_parquet('{folder}/*.parquet')").fetchone()[0]


def parquet_columns(pattern: str) -> dict[str, str]:
    with duckdb.connect() as con:
        query = f"describe select * from read_parquet('{pattern}', hive_partitioning = false)"
        rows = con.execute(query).fetchall()
    return {row[0]: row[1] for row in rows}


def test_every_raw_row_reaches_the_lake_once_per_date(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    landing = landing_with(tmp_path)
    land(warehouse, landing, [D1, D2, D3])
    lake = tmp_path / "lake"
    con = duckdb.connect(str(warehouse))
    try:
        assert export_raw(con, lake) == [D1, D2, D3]
        for table in RAW_TABLES:
            for day in (D1, D2, D3):
                folder = lake / "raw" / table / f"arrival_date={day}"
                expected = con.execute(
                    f"select count(*) from raw.{table} where arrival_date = ?", [day]
                ).fetchone()[0]
                assert parquet_count(folder) == expected, (table, day)
        assert parquet_count(lake / "raw" / "quarantine" / f"arrival_date={D2}") == 1
        # the partition column lives in the folder name; timestamps are UTC instants
        columns = parquet_columns(f"{lake}/raw/events/*/*.parquet")
        assert "arrival_date" not in columns
        assert columns["occurred_at"] == "TIMESTAMP WITH TIME ZONE"
        recorded = json.loads((lake / "raw" / EXPORTED_FILE).read_text())
        assert sorted(recorded) == [d.isoformat() for d in (D1, D2, D3)]
        # nothing changed: nothing written
        assert export_raw(con, lake) == []
    finally:
        con.close()


def test_only_a_changed_date_is_written_again(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    landing = landing_with(tmp_path)
    land(warehouse, landing, [D1, D2, D3])
    lake = tmp_path / "lake"
    with duckdb.connect(str(warehouse)) as con:
        export_raw(con, lake)
    write_landing(landing, {D2: [event("e2-new", "message", f"{D2}T11:00:00.000Z")]})
    land(warehouse, landing, [D2])
    with duckdb.connect(str(warehouse)) as con:
        assert export_raw(con, lake) == [D2]
    assert parquet_count(lake / "raw" / "events" / f"arrival_date={D2}") == 1
    assert parquet_count(lake / "raw" / "quarantine" / f"arrival_date={D2}") == 0
    assert parquet_count(lake / "raw" / "events" / f"arrival_date={D1}") == 3


def test_a_new_verdict_of_the_raw_checks_rewrites_only_the_audit_tables(tmp_path):
    """contract_passed is set after the checks read the lake: only the two small audit tables
    of the date are written again, the events stay as they were."""
    warehouse = tmp_path / "w.duckdb"
    land(warehouse, landing_with(tmp_path), [D1, D2])
    lake = tmp_path / "lake"
    with duckdb.connect(str(warehouse)) as con:
        export_raw(con, lake)
        events = raw_partition(lake, "events", D2)
        events_written = events.stat().st_mtime_ns
        audit_written = raw_partition(lake, "load_audit", D2).stat().st_mtime_ns
        con.execute("update raw.load_audit set contract_passed = (arrival_date = ?)", [D1])
        con.execute(
            "update raw.load_history as h set contract_passed = a.contract_passed "
            "from raw.load_audit as a where h.load_id = a.load_id"
        )
        assert export_raw(con, lake) == [D1, D2]
        assert export_raw(con, lake) == []
    assert events.stat().st_mtime_ns == events_written
    assert raw_partition(lake, "load_audit", D2).stat().st_mtime_ns != audit_written
    with duckdb.connect() as con:
        verdicts = con.execute(
            "select arrival_date, contract_passed from read_parquet(?, hive_partitioning = true) "
            "order by 1",
            [f"{lake}/raw/load_history/*/*.parquet"],
        ).fetchall()
    assert verdicts == [(D1, True), (D2, False)]


def test_a_partition_the_record_does_not_know_is_redone(tmp_path):
    """An export killed after writing files but before its record: the next one finishes."""
    warehouse = tmp_path / "w.duckdb"
    land(warehouse, landing_with(tmp_path), [D1])
    lake = tmp_path / "lake"
    stray = lake / "raw" / "events" / f"arrival_date={D3}"
    stray.mkdir(parents=True)
    (stray / "data.parquet").write_bytes(b"half a file")
    with duckdb.connect(str(warehouse)) as con:
        assert export_raw(con, lake) == [D1]
    assert not stray.exists()


def test_a_kpi_configuration_never_loaded_is_written_empty(tmp_path):
    lake = tmp_path / "lake"
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        export_config(con, lake)
    for table in CONFIG_TABLES:
        assert parquet_count(lake / "config" / table) == 0
    assert "config_hash" in parquet_columns(f"{lake}/config/kpi_definitions/*.parquet")


def manifest(columns: list[tuple[str, str]]) -> dict:
    node = {
        "resource_type": "model",
        "schema": "marts",
        "alias": "fct_things",
        "columns": {name: {"name": name, "data_type": kind} for name, kind in columns},
    }
    return {"nodes": {"model.botmeter.fct_things": node}}


def test_marts_come_back_with_their_contract_types(tmp_path):
    lake = tmp_path / "lake"
    folder = lake / "models" / "marts.db" / "fct_things"
    folder.mkdir(parents=True)
    write = duckdb.connect()
    write.execute(
        "copy (select 'a' as thing_id, timestamptz '2024-05-01 10:00:00+00' as seen_at, "
        "cast(3 as bigint) as n, cast('0.25' as decimal(38, 18)) as share) "
        f"to '{folder}/part-0.parquet' (format parquet)"
    )
    builds = lake / "audit" / "dbt_builds"
    builds.mkdir(parents=True)
    write.execute(
        "copy (select 'spark-1' as invocation_id, timestamptz '2024-05-01 10:00:00+00' as "
        "started_at, timestamptz '2024-05-01 10:05:00+00' as finished_at, 'success' as status, "
        "true as is_whole_project, true as is_rebuild, 'asked' as rebuild_reason, "
        "cast(0 as bigint) as batch_after_load_id, cast(3 as bigint) as batch_to_load_id, "
        f"'{{}}' as rule_vars, 'spark' as engine) to '{builds}/part-0.parquet' (format parquet)"
    )
    write.close()
    contract = [
        ("thing_id", "varchar"),
        ("seen_at", "timestamp"),
        ("n", "hugeint"),
        ("share", "decimal(38,18)"),
    ]
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema marts")
        con.execute("create view marts.fct_things as select 1 as stale")
        con.execute("create schema audit")
        con.execute(
            "create table audit.dbt_builds as select 'duck-1' as invocation_id, "
            "timestamp '2024-04-30 10:00:00' as started_at, null::timestamp as finished_at, "
            "'success' as status, true as is_whole_project, true as is_rebuild, "
            "null::varchar as rebuild_reason, 0::bigint as batch_after_load_id, "
            "1::bigint as batch_to_load_id, '{}' as rule_vars"
        )
        assert import_models(con, lake, manifest(contract)) == 1
        assert import_models(con, lake, manifest(contract)) == 1  # again: the same tables
        types = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = 'fct_things' order by ordinal_position"
        ).fetchall()
        assert types == [
            ("thing_id", "VARCHAR"),
            ("seen_at", "TIMESTAMP"),
            ("n", "HUGEINT"),
            ("share", "DECIMAL(38,18)"),
        ]
        row = con.execute("select * from marts.fct_things").fetchone()
        assert row[:3] == ("a", dt.datetime(2024, 5, 1, 10), 3)
        # DuckDB's own builds stay, Spark's are replaced by the lake's record
        assert con.execute(
            "select invocation_id, engine from audit.dbt_builds order by started_at"
        ).fetchall() == [("duck-1", None), ("spark-1", "spark")]


def test_a_model_spark_left_empty_comes_back_empty(tmp_path):
    lake = tmp_path / "lake"
    (lake / "models" / "marts.db" / "fct_things").mkdir(parents=True)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        import_models(con, lake, manifest([("thing_id", "varchar")]))
        assert con.execute("select count(*) from marts.fct_things").fetchone() == (0,)


def test_the_contracted_models_are_the_marts_and_reporting_ones():
    manifest_path = settings.PROJECT_ROOT / "target" / "manifest.json"
    models = contracted_models(json.loads(manifest_path.read_text()))
    assert {schema for schema, _ in models} == {"marts", "reporting"}
    assert ("marts", "fct_sessions") in models
    assert all(kind for columns in models.values() for _, kind in columns)


def test_the_engine_setting_is_checked(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENGINE_ENV, raising=False)
    assert settings.engine() == "duckdb"
    monkeypatch.setenv(settings.ENGINE_ENV, "Spark")
    assert settings.engine() == "spark"
    with pytest.raises(settings.ConfigError, match="not one of duckdb, spark"):
        settings.engine("postgres")
    monkeypatch.setenv(settings.SPARK_DBT_ENV, str(tmp_path / "missing" / "dbt"))
    with pytest.raises(settings.ConfigError, match="make setup-spark"):
        settings.spark_dbt_executable()

"""dbt unit tests (the `unit_tests:` in models/**/_*__models.yml) run here, in CI.

Production builds leave them out (the daily_build selector of selectors.yml): they test the
SQL, which only changes with the code.
"""

from __future__ import annotations

import json

import duckdb

from assets.kpi_definitions import load_kpi_definitions
from assets.raw_schema import ensure_raw_schema
from botmeter.settings import kpi_config_path
from tests.pipeline_helpers import dbt


def test_every_dbt_unit_test_passes(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    # Unit tests read their inputs' column types from the warehouse: build empty parents.
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
        load_kpi_definitions(con, kpi_config_path())
    dbt(warehouse, "run", "--empty")
    dbt(warehouse, "test", "--select", "test_type:unit")
    results = json.loads((tmp_path / "dbt_target" / "run_results.json").read_text())
    unit = [r for r in results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= 18 and all(r["status"] == "pass" for r in unit), [
        (r["unique_id"], r["status"]) for r in unit if r["status"] != "pass"
    ]

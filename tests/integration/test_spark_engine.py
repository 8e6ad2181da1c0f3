"""The Spark engine builds the same marts as DuckDB, row for row and bit for bit.

One landing holds the session fixture (gaps at the timeout, late and duplicate deliveries,
midnight crossings), the engagement fixture (impressions at the 24 h edges, KPIs, intents,
API calls) and a day of random confidences and latencies (quantiles and exact sums in the
last bit). DuckDB builds it with one full refresh; the whole pipeline on Spark
(`run_pipeline(engine="spark")`) lands, checks, builds and publishes it day by day: a full
refresh of the first third of the days, then two incremental runs. Every marts and reporting
table, and the published file, must equal DuckDB's. One test, three Spark builds: each costs
minutes of Spark's per-statement overhead on a 2-core machine, whatever the data. Spark runs
in its own environment (`make setup-spark`) on local Java; the module skips, saying why,
where either is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest

from assets.kpi_definitions import load_kpi_definitions
from assets.lake import contracted_models
from botmeter import settings
from botmeter.settings import PROJECT_ROOT
from tests.integration.test_engagement_models import hand_made_events
from tests.integration.test_sessions_incremental import synthetic_raw
from tests.pipeline_helpers import dbt, event, land, table_differences, write_landing

KPI_FILE = PROJECT_ROOT / "config" / "kpis.yml"
RANDOM_DAY = dt.date(2024, 4, 2)

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="no Java: the Spark engine needs 17+"),
    pytest.mark.skipif(
        not (PROJECT_ROOT / ".venv-spark" / "bin" / "dbt").exists(),
        reason="the Spark environment is not installed (make setup-spark)",
    ),
]


def random_metrics(seed: int = 11) -> list[dict]:
    """Intents and API calls with arbitrary doubles: interpolated quantiles and decimal sums
    whose last bit differs between engines unless both follow botmeter's own formula."""
    rng = random.Random(seed)
    start = dt.datetime.combine(RANDOM_DAY, dt.time(8))
    rows = []
    for i in range(240):
        moment = (start + dt.timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        common = {"customer_id": f"cus_r{i % 7}", "bot_id": f"bot_r{i % 2}"}
        rows.append(
            event(
                f"rand-intent-{i}",
                "intent_matched",
                moment,
                intent=rng.choice(["billing", "fallback", "greeting"]),
                confidence=rng.random(),
                **common,
            )
        )
        rows.append(
            event(
                f"rand-api-{i}",
                "api_call",
                moment,
                api_name=rng.choice(["search", "orders"]),
                status_code=rng.choice([200, 200, 500]),
                latency_ms=rng.random() * 900,
                **common,
            )
        )
    return rows


def long_impression_chain(loads: int = 120) -> list[dict]:
    """One visitor loading one page every 25 hours: as many unique impressions in one chain,
    delivered late in one file. More than Spark's default recursion limit (100 steps)."""
    start = dt.datetime.combine(RANDOM_DAY - dt.timedelta(days=130), dt.time(6))
    return [
        event(
            f"chain-{i:03d}",
            "impression",
            (start + dt.timedelta(hours=25 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            customer_id="cus_chain",
            page_url="/daily",
        )
        for i in range(loads)
    ]


def combined_landing(root: Path) -> tuple[Path, list[dt.date]]:
    by_day: dict[dt.date, list] = {}
    late = {RANDOM_DAY: random_metrics() + long_impression_chain()}
    for part in (synthetic_raw(), hand_made_events(), late):
        for day, rows in part.items():
            by_day.setdefault(day, []).extend(rows)
    landing = root / "landing"
    write_landing(landing, by_day)
    return landing, sorted(by_day)


def load_kpis(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        load_kpi_definitions(con, KPI_FILE)
    finally:
        con.close()


def model_tables() -> list[tuple[str, str]]:
    """Every marts and reporting model: what Spark hands back and what is published."""
    manifest = json.loads((PROJECT_ROOT / "target" / "manifest.json").read_text())
    return sorted(contracted_models(manifest))


def differences(left: Path, right: Path) -> list[str]:
    found = []
    for schema, name in model_tables():
        text = table_differences(left, right, name, schema)
        if text:
            found.append(text[:1500])
    return found


def column_types(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns where table_schema in ('marts', 'reporting') "
            "order by all"
        ).fetchall()
    finally:
        con.close()


def chain_uniques(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        query = "select count(*) from marts.fct_impressions where is_unique and customer_id = ?"
        return con.execute(query, ["cus_chain"]).fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark")
    landing, days = combined_landing(root)
    duck = root / "duck.duckdb"
    land(duck, landing, days)
    load_kpis(duck)
    dbt(duck, "run", "--full-refresh")
    return root, landing, days, duck


def test_spark_pipeline_day_by_day_publishes_what_duckdb_publishes(fixture):
    """The whole pipeline on Spark: a full refresh of the first days, then two plain runs as
    more days arrive (each an incremental build of what they touch), dbt tests as asset
    checks every time; the marts, the build record and the published file at the end."""
    from botmeter.pipeline import run_pipeline

    root, landing, days, duck = fixture
    growing = root / "pipeline" / "landing"
    warehouse = root / "pipeline" / "warehouse.duckdb"
    quiet = dict(echo=lambda line: None, engine="spark")
    steps = [days[: len(days) // 3], days[len(days) // 3 : 2 * len(days) // 3]]
    steps.append(days[2 * len(days) // 3 :])
    for number, step in enumerate(steps):
        for day in step:
            shutil.copytree(landing / "events" / str(day), growing / "events" / str(day))
        lines = run_pipeline(growing, warehouse, full_refresh=number == 0, **quiet)
        # one line per Dagster run (days apart land in runs of their own): none blocked (the
        # raw volume check warns: this landing jumps two years between fixtures), and the run
        # that built ran every dbt test on Spark as an asset check
        summaries = [line for line in lines if line.startswith("checks:")]
        for summary in summaries:
            assert " 0 failed" in summary or "(0 blocking" in summary, (number, summary)
        assert max(int(s.split()[1]) for s in summaries) > 150, (number, summaries)
    # the marts Spark built day by day are DuckDB's full refresh, and so is what was published
    assert differences(duck, warehouse) == []
    published = settings.published_path(warehouse=warehouse)
    assert differences(duck, published) == []
    assert column_types(duck) == column_types(published) == column_types(warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        builds = con.execute(
            "select engine, status, is_rebuild from audit.dbt_builds order by started_at"
        ).fetchall()
        rows = con.execute("select count(*) from marts.fct_sessions").fetchone()[0]
    finally:
        con.close()
    assert builds == [("spark", "success", True), *[("spark", "success", False)] * 2]
    assert rows > 100
    assert chain_uniques(published) == len(long_impression_chain())
    # a plain run afterwards finds nothing to do
    again = run_pipeline(growing, warehouse, **quiet)
    assert again == ["nothing new: every landed arrival day is built and published"]

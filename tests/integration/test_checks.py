"""Every check can fail: the raw batch suites (great-expectations) on damaged raw rows, and
the dbt reconciliation tests on damaged models. Each rule is checked in one place only."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from assets.lake import export_raw, raw_partition
from assets.landing import land_partition
from botmeter.settings import CheckSettings, VolumeSettings, load_check_settings, load_rules
from checks.raw_suites import CHANNELS, CONTRACT, VOLUME, RawBatchValidator
from tests.pipeline_helpers import dbt

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(6)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A warehouse landed from generated data and built by dbt (models only)."""
    from tools.generator import generate

    root = tmp_path_factory.mktemp("checks")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate(landing, start=DAYS[0], days=len(DAYS), seed=5, events_per_day=300)
    con = duckdb.connect(str(warehouse))
    for day in DAYS:
        land_partition(con, landing, day)
    con.close()
    dbt(warehouse, "run")
    return warehouse


@pytest.fixture
def copy(built, tmp_path):
    target = tmp_path / "warehouse.duckdb"
    shutil.copy(built, target)
    return target


def _validate(path, settings: CheckSettings | None = None, dates=DAYS[-2:], docs=None):
    """Write the warehouse's raw tables to its lake, as landing does, and validate `dates`
    from there."""
    lake = path.parent / "lake"
    con = duckdb.connect(str(path))
    try:
        export_raw(con, lake)
    finally:
        con.close()
    validator = RawBatchValidator(
        load_rules(), settings or load_check_settings(), docs or path.parent / "gx"
    )
    return {o.name: o for o in validator.validate(lake, list(dates))}


def test_the_raw_suites_pass_on_landed_days_and_write_data_docs(copy):
    outcomes = _validate(copy)
    assert all(o.passed for o in outcomes.values()), [o.summary for o in outcomes.values()]
    assert outcomes[CONTRACT].blocking and not outcomes[CHANNELS].blocking
    index = copy.parent / "gx" / "gx_docs" / "index.html"
    assert index.exists() and outcomes[CONTRACT].data_docs == str(index)
    # a page for every validation, passed ones too, and the pages of earlier runs are kept
    pages = copy.parent / "gx" / "gx_docs" / "validations"
    assert len(list(pages.rglob("*.html"))) == 3
    _validate(copy, dates=DAYS[:2])  # two days without history: no volume to judge
    assert len(list(pages.rglob("*.html"))) == 3 + 2
    assert "raw_events_contract" in index.read_text()


def test_a_broken_raw_contract_blocks_and_names_the_day(copy):
    """Rows landing would never accept (written here behind its back) fail the blocking
    contract suite, and the failing arrival date is named."""
    con = duckdb.connect(str(copy))
    con.execute(
        "update raw.events set event_type = 'page_scroll', confidence = 2 where rowid in "
        "(select rowid from raw.events where arrival_date = ? limit 3)",
        [DAYS[-1]],
    )
    con.close()
    outcomes = _validate(copy)
    contract = outcomes[CONTRACT]
    assert not contract.passed and contract.blocking
    assert contract.failing_dates == [DAYS[-1]]
    assert "event_type" in contract.summary and contract.failed_count >= 3


def test_the_suites_read_the_landed_parquet_not_the_warehouse(copy):
    """The batch is validated from the lake (what Spark builds from), so rows damaged there
    fail the contract although the warehouse's own rows are clean."""
    assert _validate(copy)[CONTRACT].passed
    events = raw_partition(copy.parent / "lake", "events", DAYS[-1])
    damaged = events.with_name("damaged.parquet")
    with duckdb.connect() as con:
        con.execute(
            "copy (select * replace (cast(-5 as double) as latency_ms) "
            f"from read_parquet('{events}', hive_partitioning = false)) "
            f"to '{damaged}' (format parquet)"
        )
    damaged.replace(events)
    contract = _validate(copy)[CONTRACT]
    assert not contract.passed and contract.failing_dates == [DAYS[-1]]
    assert "latency_ms" in contract.summary


def test_an_unknown_channel_warns_without_blocking(copy):
    con = duckdb.connect(str(copy))
    con.execute(
        "update raw.events set channel = 'fax' where rowid in "
        "(select rowid from raw.events where arrival_date = ? limit 1)",
        [DAYS[-1]],
    )
    con.close()
    outcomes = _validate(copy)
    assert outcomes[CONTRACT].passed
    assert not outcomes[CHANNELS].passed and not outcomes[CHANNELS].blocking
    assert "fax" in str(outcomes[CHANNELS].sample)


def test_a_day_far_below_its_trailing_median_warns(copy):
    settings = CheckSettings(volume=VolumeSettings(min_history_days=3, low_ratio=0.9))
    con = duckdb.connect(str(copy))
    con.execute(
        "update raw.load_audit set accepted = accepted // 10 where arrival_date = ?", [DAYS[-1]]
    )
    con.close()
    volume = _validate(copy, settings)[VOLUME]
    assert not volume.passed and not volume.blocking
    assert volume.failing_dates == [DAYS[-1]]


def _failing_test(warehouse, name: str) -> list:
    """Run one dbt test on the warehouse; its failing rows (the test must fail)."""
    result = dbt(warehouse, "test", "--select", name, "--store-failures", check=False)
    statuses = {str(r.status) for r in result.result.results if r.node.resource_type == "test"}
    assert statuses == {"fail"}, (name, statuses)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        table = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name like ? order by 1",
            [f"{name}%"],
        ).fetchone()
        return con.execute(f'select * from "{table[0]}"."{table[1]}"').fetchall()
    finally:
        con.close()


def test_every_reconciliation_passes_on_a_clean_build(copy):
    result = dbt(copy, "test", "--select", "test_type:singular")
    tests = [r for r in result.result.results if r.node.resource_type == "test"]
    assert {str(r.status) for r in tests} == {"pass"} and len(tests) >= 4


def test_a_landing_audit_that_disagrees_with_the_rows_fails(copy):
    con = duckdb.connect(str(copy))
    con.execute(
        "delete from raw.events where rowid in (select rowid from raw.events "
        "where arrival_date = ? limit 2)",
        [DAYS[-1]],
    )
    con.close()
    rows = _failing_test(copy, "raw_landing_balances")
    assert [r[0] for r in rows] == [DAYS[-1]]


def test_a_lost_staged_event_fails_the_staging_reconciliation(copy):
    con = duckdb.connect(str(copy))
    eid = con.execute(
        "select event_id from staging.stg_botmeter__events where arrival_date = ? limit 1",
        [DAYS[-1]],
    ).fetchone()[0]
    con.execute("delete from staging.stg_botmeter__events where event_id = ?", [eid])
    con.close()
    rows = _failing_test(copy, "staging_keeps_the_earliest_copy_of_every_event")
    assert rows == [(eid, "not staged")]


def test_a_rollup_disagreeing_with_the_sessions_fails(copy):
    con = duckdb.connect(str(copy))
    con.execute(
        """update marts.agg_sessions_daily_total set sessions = sessions + 1
           where (session_date, account_id, bot_id) in (
               select (session_date, account_id, bot_id)
               from marts.agg_sessions_daily_total order by all desc limit 1)"""
    )
    con.close()
    rows = _failing_test(copy, "session_rollups_count_every_session_once")
    assert [r[0] for r in rows] == ["day"]  # the monthly table was summed before the damage
    assert rows[0][-1] == rows[0][-2] + 1


def test_unassigned_events_conversations_and_tickets_fail(copy):
    con = duckdb.connect(str(copy))
    ticket = con.execute(
        "select ticket_id from marts.fct_tickets where session_id is not null limit 1"
    ).fetchone()
    assert ticket, "the generated data has in-session tickets"
    con.execute("update marts.fct_tickets set session_id = null where ticket_id = ?", [ticket[0]])
    pair = con.execute(
        "select session_id, conversation_id from marts.bridge_session_conversations "
        "order by all limit 1"
    ).fetchone()
    con.execute(
        "delete from marts.bridge_session_conversations where session_id = ? "
        "and conversation_id = ?",
        list(pair),
    )
    counted = con.execute(
        "update marts.fct_sessions set event_count = event_count + 1 where session_id = "
        "(select min(session_id) from marts.fct_sessions) returning session_id"
    ).fetchone()[0]
    con.close()
    rows = _failing_test(copy, "sessions_hold_every_event_of_their_window")
    problems = {r[0]: r for r in rows}
    assert set(problems) == {
        "event count",
        "conversation not in the bridge",
        "ticket without its session",
    }
    assert problems["event count"][1] == counted
    assert problems["conversation not in the bridge"][1:3] == pair
    assert problems["ticket without its session"][3] == ticket[0]


def test_a_staged_event_before_the_data_start_fails(copy):
    con = duckdb.connect(str(copy))
    con.execute(
        "update staging.stg_botmeter__events set occurred_at = timestamp '2022-02-03 23:59:59' "
        "where event_id = (select min(event_id) from staging.stg_botmeter__events)"
    )
    con.close()
    assert len(_failing_test(copy, "not_before_data_start_stg_botmeter__events_occurred_at")) == 1


def test_dbt_tests_are_dagster_asset_checks_blocking_by_severity():
    """dagster-dbt turns every dbt test into an asset check of its model; error-severity
    tests block (dbt_project.yml: +severity error)."""
    from orchestration.dbt import botmeter_dbt_models

    specs = {spec.key.name: spec for spec in botmeter_dbt_models.check_specs}
    for name, asset in [
        ("raw_landing_balances", "stg_botmeter__events"),
        ("staging_keeps_the_earliest_copy_of_every_event", "stg_botmeter__events"),
        ("session_rollups_count_every_session_once", "agg_sessions_daily_total"),
        ("sessions_hold_every_event_of_their_window", "fct_sessions"),
    ]:
        assert specs[name].asset_key.path[-1] == asset and specs[name].blocking, name
